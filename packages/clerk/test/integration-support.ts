// Shared by the integration*.test.ts files: a transport that records every attempt,
// workers that drive a clerk with uniquely tagged writes and record each outcome, the
// exactly-once check of an appended log, and fault helpers for a chaos cluster.
import { type NodeProcess, type TestCluster, waitFor } from '@cairn/testkit';
import {
  type AttemptOptions,
  type CallResult,
  ClerkError,
  type Connection,
  GrpcTransport,
  type RpcMethod,
  type RpcRequest,
  type RpcResponse,
  TimeoutError,
  type Transport,
  UnavailableError,
  UnknownOutcomeError,
  type Clerk,
} from '../src/index.js';

/** One attempt as the clerk sent it. */
export interface RecordedAttempt {
  readonly address: string;
  readonly method: RpcMethod;
  /** `clientId/seq` of a write, else undefined. */
  readonly session: string | undefined;
}

/** Real gRPC, plus a log of every attempt (to see where calls went and which writes were resent). */
export class RecordingTransport implements Transport {
  readonly attempts: RecordedAttempt[] = [];
  private readonly grpc = new GrpcTransport();

  connect(address: string): Connection {
    const inner = this.grpc.connect(address);
    const attempts = this.attempts;
    return {
      address,
      call<M extends RpcMethod>(method: M, request: RpcRequest<M>, options: AttemptOptions): Promise<CallResult<RpcResponse<M>>> {
        const session = 'session' in request ? (request.session as { clientId: string; seq: number } | undefined) : undefined;
        attempts.push({ address, method, session: session === undefined ? undefined : `${session.clientId}/${session.seq}` });
        return inner.call(method, request, options);
      },
      close: () => inner.close(),
    };
  }

  /** Write sessions (clientId/seq) sent more than once to one node: retries the server must deduplicate. */
  resentToSameNode(): string[] {
    const counts = new Map<string, number>();
    for (const attempt of this.attempts) {
      if (attempt.session === undefined) continue;
      const key = `${attempt.session}@${attempt.address}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return [...counts].filter(([, count]) => count > 1).map(([key]) => key);
  }
}

/** How a write ended, as the caller saw it. */
export type WriteOutcome = 'ok' | 'unknown' | 'not-applied';

/**
 * The outcome class of a failed write. A write that gives up may only fail
 * with these three; anything else (another class, a raw gRPC error) is a bug.
 */
export function classifyWriteFailure(error: unknown): WriteOutcome | undefined {
  if (!(error instanceof ClerkError)) return undefined;
  if (error instanceof UnknownOutcomeError && error.code === 'UNKNOWN_OUTCOME') return 'unknown';
  if (error instanceof TimeoutError && error.code === 'TIMEOUT') return 'not-applied';
  if (error instanceof UnavailableError && error.code === 'UNAVAILABLE') return 'not-applied';
  return undefined;
}

export function describeError(error: unknown): string {
  if (error instanceof ClerkError) return `${error.name}(${error.code}): ${error.message}`;
  if (error instanceof Error) return `${error.constructor.name}: ${error.message}`;
  return String(error);
}

export interface WorkerOptions {
  /** Every iteration appends `<name>:<n>;` to this key. */
  readonly logKey: string;
  /** Also put `<prefix><name>/<n>` = `v<n>` and a shared key, concurrently with the append. */
  readonly putPrefix?: string;
  /** Also read the log key (linearizable) each iteration and check it shows this worker's last acknowledged token. */
  readonly readBack?: boolean;
}

/** Bounds a worker's loop (and keeps the shared log far below the server's value limit). */
const ITERATIONS_MAX = 20_000;

/**
 * Drives one clerk in a loop until stopped. Each iteration appends a unique
 * token to the shared log key (and optionally puts a unique and a shared key
 * in parallel, so several session lanes are busy), recording every outcome.
 */
export class ClerkWorker {
  /** Appended token → outcome, in issue order. */
  readonly tokens = new Map<string, WriteOutcome>();
  /** Unique put key → [value, outcome]. */
  readonly puts = new Map<string, { value: string; outcome: WriteOutcome }>();
  /** Failures of an unexpected class (must stay empty). */
  readonly unexpected: string[] = [];
  /** Every failed write, described (for tests where every write must succeed). */
  readonly failures: string[] = [];
  /** Linearizable reads that missed a token acknowledged before they were invoked (must stay empty). */
  readonly staleReads: string[] = [];
  reads = 0;
  acked = 0;
  private lastAcked: string | undefined;
  private stopping = false;
  private running: Promise<void> | undefined;

  constructor(
    readonly name: string,
    readonly clerk: Clerk,
    private readonly options: WorkerOptions,
  ) {}

  start(): void {
    this.running = this.run();
  }

  /** Lets the current iteration finish, then stops. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
  }

  /** Cleanup after a failure: closes the clerk (cancelling calls in flight) and stops. */
  async abandon(): Promise<void> {
    this.stopping = true;
    this.clerk.close();
    await this.running;
  }

  /** Waits until this worker has `count` more acknowledged appends than now. */
  async progress(count: number, what: string, deadlineMs = 20_000): Promise<void> {
    const target = this.acked + count;
    await waitFor(() => this.acked >= target, { deadlineMs, what: `${this.name}: ${what}` });
  }

  private async run(): Promise<void> {
    // Bounded, so a failed test can never leave a worker spinning.
    for (let n = 1; !this.stopping && n <= ITERATIONS_MAX; n++) {
      const writes = [this.appendToken(`${this.name}:${n};`)];
      const prefix = this.options.putPrefix;
      if (prefix !== undefined) {
        writes.push(this.putUnique(`${prefix}${this.name}/${n}`, `v${n}`));
        writes.push(this.track('shared put', this.clerk.put(`${prefix}shared`, `${this.name}:${n}`)).then(() => undefined));
      }
      if (this.options.readBack === true) writes.push(this.readBack());
      await Promise.all(writes);
    }
  }

  private async appendToken(token: string): Promise<void> {
    const outcome = await this.track(`append ${token}`, this.clerk.append(this.options.logKey, token));
    this.tokens.set(token, outcome);
    if (outcome === 'ok') {
      this.acked += 1;
      this.lastAcked = token;
    }
  }

  private async readBack(): Promise<void> {
    const mustSee = this.lastAcked;
    try {
      const value = (await this.clerk.get(this.options.logKey))?.value.toString() ?? '';
      this.reads += 1;
      if (mustSee !== undefined && !value.includes(mustSee)) this.staleReads.push(`${this.name}: read without ${mustSee}`);
    } catch (error) {
      // A read that gives up may only time out or find no node; it never has an unknown outcome.
      const typed = error instanceof ClerkError && (error.code === 'TIMEOUT' || error.code === 'UNAVAILABLE');
      if (!typed && !this.stopping) this.unexpected.push(`${this.name} get: ${describeError(error)}`);
    }
  }

  private async putUnique(key: string, value: string): Promise<void> {
    this.puts.set(key, { value, outcome: await this.track(`put ${key}`, this.clerk.put(key, value)) });
  }

  private async track(what: string, call: Promise<unknown>): Promise<WriteOutcome> {
    try {
      await call;
      return 'ok';
    } catch (error) {
      this.failures.push(`${this.name} ${what}: ${describeError(error)}`);
      const outcome = classifyWriteFailure(error);
      if (outcome === undefined && !this.stopping) this.unexpected.push(`${this.name} ${what}: ${describeError(error)}`);
      return outcome ?? 'unknown';
    }
  }
}

/**
 * Checks an appended log against the workers' outcomes: every acknowledged
 * token appears exactly once, an unknown one at most once, a not-applied one
 * never, no foreign text, and each worker's acknowledged tokens in issue
 * order (an append acknowledged before the next was invoked precedes it).
 * Returns the violations (empty = correct).
 */
export function exactlyOnceViolations(log: string, workers: readonly ClerkWorker[]): string[] {
  const violations: string[] = [];
  const pieces = log.split(';');
  if (pieces.at(-1) !== '') violations.push(`log does not end with ';': ${JSON.stringify(log.slice(-40))}`);
  const appearances = new Map<string, number[]>();
  pieces.slice(0, -1).forEach((piece, position) => {
    const token = `${piece};`;
    appearances.set(token, [...(appearances.get(token) ?? []), position]);
  });
  const outcomes = new Map(workers.flatMap((worker) => [...worker.tokens]));
  for (const [token, positions] of appearances) {
    const outcome = outcomes.get(token);
    if (outcome === undefined) violations.push(`${token} appears but was never appended (or is still in flight)`);
    else if (positions.length > 1) violations.push(`${token} (${outcome}) appears ${positions.length} times`);
    else if (outcome === 'not-applied') violations.push(`${token} failed as not applied but appears`);
  }
  for (const [token, outcome] of outcomes) {
    if (outcome === 'ok' && !appearances.has(token)) violations.push(`${token} was acknowledged but is missing`);
  }
  for (const worker of workers) {
    const positions = [...worker.tokens].filter(([, outcome]) => outcome === 'ok').map(([token]) => appearances.get(token)?.[0] ?? -1);
    const outOfOrder = positions.findIndex((position, index) => index > 0 && position < positions[index - 1]!);
    if (outOfOrder > 0) violations.push(`${worker.name}: acknowledged appends out of order at its ${outOfOrder + 1}th`);
  }
  return violations;
}

/** Cuts `node` off from every other node, in both directions, via InjectFault on all of them. */
export async function isolate(control: Clerk, cluster: TestCluster, node: NodeProcess): Promise<void> {
  const others = cluster.nodes.filter((other) => other.id !== node.id);
  await control.injectFault({ kind: 'partition', peers: others.map((other) => other.id) }, { endpoint: node.grpcAddress });
  for (const other of others) await control.injectFault({ kind: 'partition', peers: [node.id] }, { endpoint: other.grpcAddress });
}

/** Clears every fault on every running node. */
export async function clearFaults(control: Clerk, cluster: TestCluster): Promise<void> {
  for (const node of cluster.nodes) {
    if (node.process !== undefined) await control.injectFault({ kind: 'clear' }, { endpoint: node.grpcAddress });
  }
}

/** Waits until the live nodes agree on a leader other than `formerId`. */
export async function waitForNewLeader(cluster: TestCluster, formerId: number, deadlineMs = 20_000): Promise<NodeProcess> {
  return waitFor(
    async () => {
      const leader = await cluster.waitForLeader(2_000);
      return leader.id === formerId ? undefined : leader;
    },
    { deadlineMs, what: `a leader other than node ${formerId}` },
  );
}

export function addressesOf(cluster: TestCluster): string[] {
  return cluster.nodes.map((node) => node.grpcAddress);
}
