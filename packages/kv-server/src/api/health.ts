/**
 * grpc.health.v1.Health (Check and Watch) and server reflection, so standard
 * tools (grpcurl, grpc_health_probe) work without .proto files. The health
 * service is described inline; reflection serves the repository's proto/ sources.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../logger.js';

const LOADER_OPTIONS: protoLoader.Options = { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true };

const HEALTH_JSON = {
  nested: {
    grpc: {
      nested: {
        health: {
          nested: {
            v1: {
              nested: {
                HealthCheckRequest: { fields: { service: { type: 'string', id: 1 } } },
                HealthCheckResponse: {
                  fields: { status: { type: 'ServingStatus', id: 1 } },
                  nested: { ServingStatus: { values: { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } } },
                },
                Health: {
                  methods: {
                    Check: { requestType: 'HealthCheckRequest', responseType: 'HealthCheckResponse' },
                    Watch: { requestType: 'HealthCheckRequest', responseType: 'HealthCheckResponse', responseStream: true },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
};

/** Services the health check answers for ('' = the whole server). */
const HEALTH_SERVICES = ['', 'cairn.kv.v1.KVService', 'cairn.kv.v1.ClusterService', 'cairn.raft.v1.RaftTransportService'];

export interface HealthControl {
  setServing(serving: boolean): void;
}

export function addHealthAndReflection(server: grpc.Server, logger: Logger): HealthControl {
  const healthDefinition = protoLoader.fromJSON(HEALTH_JSON as unknown as Parameters<typeof protoLoader.fromJSON>[0], LOADER_OPTIONS);
  const healthService = healthDefinition['grpc.health.v1.Health'] as grpc.ServiceDefinition;
  let serving = false;
  const watchers = new Set<grpc.ServerWritableStream<{ service: string }, { status: string }>>();
  const statusOf = (service: string): string =>
    !HEALTH_SERVICES.includes(service) ? 'SERVICE_UNKNOWN' : serving ? 'SERVING' : 'NOT_SERVING';
  server.addService(healthService, {
    Check: (call: grpc.ServerUnaryCall<{ service: string }, { status: string }>, callback: grpc.sendUnaryData<{ status: string }>) => {
      const status = statusOf(call.request.service);
      if (status === 'SERVICE_UNKNOWN')
        return callback({ code: grpc.status.NOT_FOUND, details: `unknown service '${call.request.service}'` });
      callback(null, { status });
    },
    Watch: (call: grpc.ServerWritableStream<{ service: string }, { status: string }>) => {
      watchers.add(call);
      call.write({ status: statusOf(call.request.service) });
      call.on('cancelled', () => watchers.delete(call));
    },
  });

  const protoRoot = findProtoRoot();
  if (protoRoot !== undefined) {
    try {
      const files = listProtoFiles(protoRoot).map((f) => relative(protoRoot, f));
      const definition = protoLoader.loadSync(files, { ...LOADER_OPTIONS, includeDirs: [protoRoot] });
      new ReflectionService({ ...definition, ...healthDefinition }).addToServer(server);
    } catch (error) {
      logger.warn('reflection-unavailable', { error });
    }
  } else {
    logger.warn('reflection-unavailable', { reason: 'proto sources not found' });
  }

  return {
    setServing(value: boolean): void {
      serving = value;
      for (const call of watchers) call.write({ status: statusOf(call.request.service) });
    },
  };
}

function findProtoRoot(): string | undefined {
  // src/api/health.ts and dist/api/health.js are both four levels below the repository root.
  const candidate = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'proto');
  return existsSync(candidate) ? candidate : undefined;
}

function listProtoFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...listProtoFiles(path));
    else if (name.endsWith('.proto')) out.push(path);
  }
  return out;
}
