/**
 * A minimal test client: follows NOT_LEADER hints and retries retryable codes
 * until a deadline, reusing the write's (clientId, seq) so retries are safe.
 */
import * as grpc from '@grpc/grpc-js';
import { Consistency, type KeyValue } from '@cairn/proto';
import { type CallError, type NodeProcess, type TestCluster, unaryCall } from '@cairn/testkit';

const RETRYABLE = new Set(['NOT_LEADER', 'NO_LEADER', 'TIMEOUT', 'UNAVAILABLE', 'SHUTTING_DOWN', 'TOO_MANY_REQUESTS']);

export class TestClient {
  private seq = 0;
  private leader: NodeProcess | undefined;

  constructor(
    private readonly cluster: TestCluster,
    readonly clientId = `test-${Math.random().toString(36).slice(2)}`,
  ) {}

  private async withLeader<T>(call: (node: NodeProcess) => Promise<T>, deadlineMs: number): Promise<T> {
    const deadline = Date.now() + deadlineMs;
    let attempt = 0;
    for (;;) {
      const live = this.cluster.nodes.filter((n) => n.process !== undefined);
      const node = this.leader?.process !== undefined ? this.leader : live[attempt % live.length]!;
      try {
        const value = await call(node);
        this.leader = node;
        return value;
      } catch (error) {
        const e = error as CallError;
        const code = e.detail?.code ?? (e.code === 14 || e.code === 4 || e.code === 1 ? 'UNAVAILABLE' : undefined);
        if (code === undefined || !RETRYABLE.has(code) || Date.now() > deadline) throw error;
        const hinted = e.detail?.leaderId
          ? this.cluster.nodes.find((n) => n.id === e.detail!.leaderId && n.process !== undefined)
          : undefined;
        this.leader = hinted;
        attempt += 1;
        if (hinted === undefined) await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  put(key: string, value: string, deadlineMs = 15_000): Promise<number> {
    const session = { clientId: this.clientId, seq: ++this.seq };
    return this.withLeader(
      (n) =>
        unaryCall<{ version: number }>((cb) =>
          n.kv.put(
            { key: Buffer.from(key), value: Buffer.from(value), session, prevKv: false },
            new grpc.Metadata(),
            { deadline: Date.now() + 3000 },
            cb,
          ),
        ),
      deadlineMs,
    ).then((r) => r.version);
  }

  append(key: string, value: string, deadlineMs = 15_000): Promise<number> {
    const session = { clientId: this.clientId, seq: ++this.seq };
    return this.withLeader(
      (n) =>
        unaryCall<{ length: number }>((cb) =>
          n.kv.append(
            { key: Buffer.from(key), value: Buffer.from(value), session },
            new grpc.Metadata(),
            { deadline: Date.now() + 3000 },
            cb,
          ),
        ),
      deadlineMs,
    ).then((r) => r.length);
  }

  get(key: string, deadlineMs = 15_000): Promise<KeyValue | undefined> {
    return this.withLeader(
      (n) =>
        unaryCall<{ kv?: KeyValue }>((cb) =>
          n.kv.get(
            { key: Buffer.from(key), consistency: Consistency.LINEARIZABLE },
            new grpc.Metadata(),
            { deadline: Date.now() + 3000 },
            cb,
          ),
        ),
      deadlineMs,
    ).then((r) => r.kv);
  }
}
