// Goal: the node works with standard gRPC tooling and stops gracefully:
// grpc.health.v1 answers SERVING for the server and its services, server
// reflection lists Cairn's services (what grpcurl relies on), and SIGTERM
// ends the process with exit code 0 after logging that it stopped.
// Method: a single real node; health and reflection clients built with
// @grpc/proto-loader from the definitions the reflection package ships.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { TestCluster } from '@cairn/testkit';

const require = createRequire(import.meta.url);
const reflectionProto = join(
  dirname(require.resolve('@grpc/reflection/package.json')),
  'build',
  'proto',
  'grpc',
  'reflection',
  'v1',
  'reflection.proto',
);

const HEALTH_PROTO = `syntax = "proto3";
package grpc.health.v1;
message HealthCheckRequest { string service = 1; }
message HealthCheckResponse { enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; } ServingStatus status = 1; }
service Health { rpc Check(HealthCheckRequest) returns (HealthCheckResponse); }`;

type GrpcConstructor = new (
  address: string,
  credentials: grpc.ChannelCredentials,
) => grpc.Client & Record<string, (...args: never[]) => unknown>;

function loadService(path: string, name: string): GrpcConstructor {
  const definition = protoLoader.loadSync(path, { enums: String });
  const root = grpc.loadPackageDefinition(definition) as Record<string, unknown>;
  return name.split('.').reduce<unknown>((o, part) => (o as Record<string, unknown>)[part], root) as GrpcConstructor;
}

describe('operating a node', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await TestCluster.start({ size: 1 });
    await cluster.waitForLeader();
  });
  after(async () => {
    await cluster?.stop();
  });

  test('grpc.health.v1 reports SERVING, and SERVICE_UNKNOWN is an error', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const file = join(mkdtempSync(join(tmpdir(), 'cairn-health-')), 'health.proto');
    writeFileSync(file, HEALTH_PROTO);
    const Health = loadService(file, 'grpc.health.v1.Health');
    const client = new Health(cluster.node(1).grpcAddress, grpc.credentials.createInsecure());
    const check = (service: string) =>
      new Promise<{ status: string }>((resolve, reject) =>
        (client.Check as unknown as (r: object, cb: (e: Error | null, v: { status: string }) => void) => void)({ service }, (e, v) =>
          e ? reject(e) : resolve(v),
        ),
      );
    assert.equal((await check('')).status, 'SERVING');
    assert.equal((await check('cairn.kv.v1.KVService')).status, 'SERVING');
    await assert.rejects(check('no.such.Service'), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND);
    client.close();
  });

  test('server reflection lists the KV, Cluster and health services', async () => {
    const Reflection = loadService(reflectionProto, 'grpc.reflection.v1.ServerReflection');
    const client = new Reflection(cluster.node(1).grpcAddress, grpc.credentials.createInsecure());
    const call = (
      client.ServerReflectionInfo as unknown as () => grpc.ClientDuplexStream<
        object,
        { listServicesResponse?: { service: { name: string }[] } }
      >
    )();
    const response = await new Promise<{ listServicesResponse?: { service: { name: string }[] } }>((resolve, reject) => {
      call.on('data', resolve);
      call.on('error', reject);
      call.write({ listServices: '' });
    });
    call.end();
    const names = response.listServicesResponse?.service.map((s) => s.name) ?? [];
    for (const expected of ['cairn.kv.v1.KVService', 'cairn.kv.v1.ClusterService', 'grpc.health.v1.Health']) {
      assert.ok(names.includes(expected), `${expected} in ${names.join(', ')}`);
    }
    client.close();
  });

  test('SIGTERM stops the node gracefully with exit code 0', async () => {
    const node = cluster.node(1);
    const code = await cluster.terminate(node);
    assert.equal(code, 0);
    assert.match(node.stderr, /"event":"node-stopping"/);
    assert.match(node.stderr, /"event":"node-stopped"/);
  });
});
