/**
 * A gRPC server stream as an Outbox channel that pushes back on the bytes in
 * flight, not on grpc-js's object-mode highWaterMark of 16 messages.
 *
 * A stream carrying hundreds of watches sends hundreds of small responses per
 * revision. grpc-js's stream writes one message at a time: it waits for each
 * HTTP/2 write to complete before it serializes the next. A leader with 1,000
 * watches on 10 streams therefore spent half its time idle while the watches
 * fell seconds behind. So messages go to the call's sendMessage directly when
 * grpc-js exposes it (the stream object's `call`, present in the pinned
 * 1.14). Node's HTTP/2 stream then queues them and writes each queue in one
 * writev, in order. Without it, messages go through the stream's write().
 *
 * Bytes count as in flight from the write until HTTP/2 has taken them, and
 * HTTP/2 stops taking them when the client stops reading. So the bound also
 * holds for a client that does not read.
 */
import type { Channel } from './outbox.js';

type Send<M> = (message: M, callback: () => void) => void;

interface WritableCall<M> {
  write(message: M, callback: () => void): boolean;
}

/** grpc-js's ServerDuplexStreamImpl keeps its ServerInterceptingCall as `call` (not part of its typed API). */
interface WithInterceptingCall<M> {
  call?: { sendMessage?: (message: M, callback: () => void) => void };
}

export function grpcChannel<M>(call: WritableCall<M>, budgetBytes: number): Channel<M> {
  const intercepting = (call as WithInterceptingCall<M>).call;
  const send: Send<M> =
    typeof intercepting?.sendMessage === 'function'
      ? (message, callback) => intercepting.sendMessage!(message, callback)
      : (message, callback) => void call.write(message, callback);
  let inFlight = 0;
  let pushedBack = false;
  const listeners: Array<() => void> = [];
  return {
    write(message, bytes) {
      inFlight += bytes;
      send(message, () => {
        inFlight -= bytes;
        // Resume at half the budget, so a busy stream does not flip on every message.
        if (pushedBack && inFlight <= budgetBytes / 2) {
          pushedBack = false;
          for (const listener of listeners) listener();
        }
      });
      if (inFlight > budgetBytes) pushedBack = true;
      return !pushedBack;
    },
    onDrain(listener) {
      listeners.push(listener);
    },
  };
}
