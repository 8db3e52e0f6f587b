/** What the load generator needs from a system under test; Cairn and etcd both implement it. */

export type SystemName = 'cairn' | 'etcd';

export interface KvTarget {
  readonly system: SystemName;
  /** Where requests go, for the report (e.g. "leader 127.0.0.1:4001 (node 2)"). */
  readonly describeEndpoint: string;
  /** `worker` lets a target spread workers over several clients. */
  put(worker: number, key: Buffer, value: Buffer): Promise<void>;
  /** A linearizable read. */
  get(worker: number, key: Buffer): Promise<void>;
  /** The current leader's process id (for RSS). */
  leaderPid(): Promise<number>;
  /** The current leader's data dir (for on-disk size). */
  leaderDataDir(): Promise<string>;
  /** Closes clients (not the cluster). */
  close(): void;
}

/** A stable, short code for a failed operation (a ClerkError code, a gRPC status name, or the error's name). */
export function errorCode(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    if (typeof code === 'number') return `GRPC_${code}`;
    const name = (error as { name?: unknown }).name;
    if (typeof name === 'string') return name;
  }
  return 'UNKNOWN';
}
