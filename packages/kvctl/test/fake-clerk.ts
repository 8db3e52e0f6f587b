// A scriptable in-memory ClerkLike for kvctl tests: a tiny map-backed store plus
// per-method overrides and a log of calls.
import type { MembersResponse, SnapshotResponse, StatusResponse } from '@cairn/proto';
import type { CasExpectation, ClerkLike, KeyValueLike, NewMember, RangeOptions } from '../src/clerk-like.js';

export class FakeClerkError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface FakeClerkCall {
  readonly method: string;
  readonly args: readonly unknown[];
}

export function statusOf(overrides: Partial<StatusResponse>): StatusResponse {
  return {
    id: 1,
    clusterId: 'c1',
    role: 'follower',
    term: 1,
    leaderId: 0,
    commitIndex: 0,
    appliedIndex: 0,
    lastIndex: 0,
    snapshotIndex: 0,
    members: [],
    progress: [],
    keys: 0,
    version: 'test',
    uptimeMs: 0,
    ...overrides,
  };
}

export class FakeClerk implements ClerkLike {
  readonly calls: FakeClerkCall[] = [];
  readonly store = new Map<string, KeyValueLike>();
  statusReply: StatusResponse = statusOf({ id: 1, role: 'leader', leaderId: 1 });
  membersReply: MembersResponse = { members: [], leaderId: 1 };
  /** When set, every call rejects with it. */
  failWith: Error | undefined;
  closed = false;
  private index = 0;

  private record(method: string, args: unknown[]): void {
    this.calls.push({ method, args });
    if (this.failWith !== undefined) throw this.failWith;
  }

  async put(key: string, value: Buffer): Promise<{ version: number }> {
    this.record('put', [key, value]);
    const previous = this.store.get(key);
    this.index += 1;
    const kv = {
      key: Buffer.from(key),
      value,
      version: (previous?.version ?? 0) + 1,
      createIndex: previous?.createIndex ?? this.index,
      modIndex: this.index,
    };
    this.store.set(key, kv);
    return { version: kv.version };
  }

  async get(key: string, options: { consistency: 'linearizable' | 'serializable' }): Promise<KeyValueLike | undefined> {
    this.record('get', [key, options]);
    return this.store.get(key);
  }

  async append(key: string, suffix: Buffer): Promise<unknown> {
    this.record('append', [key, suffix]);
    const previous = this.store.get(key);
    return this.put(key, Buffer.concat([previous?.value ?? Buffer.alloc(0), suffix]));
  }

  async delete(key: string): Promise<{ deleted: boolean }> {
    this.record('delete', [key]);
    return { deleted: this.store.delete(key) };
  }

  async cas(key: string, expected: CasExpectation, newValue: Buffer): Promise<{ succeeded: boolean; kv?: KeyValueLike }> {
    this.record('cas', [key, expected, newValue]);
    const current = this.store.get(key);
    const matches =
      'expectedVersion' in expected
        ? (current?.version ?? 0) === expected.expectedVersion
        : current !== undefined && current.value.equals(expected.expectedValue);
    if (!matches) return current === undefined ? { succeeded: false } : { succeeded: false, kv: current };
    await this.put(key, newValue);
    return { succeeded: true, kv: this.store.get(key)! };
  }

  async range(prefix: string, options: RangeOptions): Promise<{ kvs: KeyValueLike[]; more: boolean }> {
    this.record('range', [prefix, options]);
    const matching = [...this.store.keys()]
      .sort()
      .filter((key) => key.startsWith(prefix) && (options.startAfter === undefined || key > options.startAfter));
    const page = options.limit === undefined ? matching : matching.slice(0, options.limit);
    return { kvs: page.map((key) => this.store.get(key)!), more: page.length < matching.length };
  }

  /** Per-endpoint replies for status({ endpoint }); a string entry is an error code to fail with. */
  readonly statusByEndpoint = new Map<string, StatusResponse | string>();

  /** The deadlineMs of each status({ endpoint }) call, in order. */
  readonly statusDeadlines: (number | undefined)[] = [];

  async status(options: { endpoint?: string; deadlineMs?: number } = {}): Promise<StatusResponse> {
    this.record('status', options.endpoint === undefined ? [] : [options.endpoint]);
    if (options.endpoint !== undefined) this.statusDeadlines.push(options.deadlineMs);
    if (options.endpoint === undefined) return this.statusReply;
    const reply = this.statusByEndpoint.get(options.endpoint) ?? 'UNAVAILABLE';
    if (typeof reply === 'string') throw new FakeClerkError(reply, `${options.endpoint} did not answer`);
    return reply;
  }

  async members(): Promise<MembersResponse> {
    this.record('members', []);
    return this.membersReply;
  }

  async addLearner(member: NewMember): Promise<unknown> {
    this.record('addLearner', [member]);
    return undefined;
  }

  async promote(id: number): Promise<unknown> {
    this.record('promote', [id]);
    return undefined;
  }

  async removeMember(id: number): Promise<unknown> {
    this.record('removeMember', [id]);
    return this.membersReply;
  }

  async transferLeader(id: number): Promise<number> {
    this.record('transferLeader', [id]);
    return id;
  }

  async snapshot(): Promise<SnapshotResponse> {
    this.record('snapshot', []);
    return { index: 42, term: 3, sizeBytes: 1024 };
  }

  close(): void {
    this.closed = true;
  }
}
