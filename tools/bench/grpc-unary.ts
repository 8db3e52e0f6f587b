/** One grpc-js unary call as a promise, with the options every benchmark gRPC client shares. */
import * as grpc from '@grpc/grpc-js';

/**
 * Channel options of the benchmark's own gRPC clients (etcd's and the neutral
 * Cairn client): grpc-js defaults, except messages up to 64 MiB each way, so
 * `--value-bytes 262144` (and any value a server accepts) fits.
 */
export const CLIENT_CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
  'grpc.max_send_message_length': 64 * 1024 * 1024,
};

export function grpcClient(address: string): grpc.Client {
  return new grpc.Client(address, grpc.credentials.createInsecure(), CLIENT_CHANNEL_OPTIONS);
}

/** A failed call: `code` is the gRPC status name ("UNAVAILABLE"), `details` the server's text. */
export interface UnaryError extends Error {
  readonly code: string;
  readonly details: string;
}

export function unary<Req, Res>(
  client: grpc.Client,
  method: grpc.MethodDefinition<Req, Res>,
  request: Req,
  timeoutMs: number,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      request,
      new grpc.Metadata(),
      { deadline: Date.now() + timeoutMs },
      (error, response) => {
        if (error === null && response !== undefined) resolve(response);
        // A status name ("UNAVAILABLE", "DEADLINE_EXCEEDED") as the error code, like the clerk's codes.
        else
          reject(
            Object.assign(new Error(error?.details ?? 'empty response'), {
              code: error === null ? 'EMPTY_RESPONSE' : (grpc.status[error.code] ?? `GRPC_${error.code}`),
              details: error?.details ?? '',
            }) satisfies UnaryError,
          );
      },
    );
  });
}
