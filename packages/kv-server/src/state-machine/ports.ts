/**
 * What the node loop and the APIs need from the state machine. KvStateMachine
 * (kv-state-machine.ts) implements both; the loop and the APIs are written
 * against these so each side can be tested alone.
 */
import type { CommandResult, Entry, KeyValue } from '@cairn/proto';
import type { StagedWrite } from '../storage/staged-write.js';
import type { SnapshotStream } from './generations.js';
import type { AppliedResult } from './kv-state-machine.js';

export type { AppliedResult } from './kv-state-machine.js';

export interface NodeStateMachine {
  appliedIndex(): number;
  /** `answer` gets the results as soon as they are final, before the batch is written. */
  applyEntries(entries: readonly Entry[], alsoWrite?: StagedWrite, answer?: (results: AppliedResult[]) => void): Promise<AppliedResult[]>;
  snapshot(): SnapshotStream;
  restore(data: Buffer, index: number): Promise<void>;
}

/** The reads the client APIs serve. */
export interface KvReader {
  get(key: Buffer): Promise<KeyValue | undefined>;
  range(prefix: Buffer, startAfter: Buffer | undefined, limit: number, keysOnly: boolean): Promise<{ kvs: KeyValue[]; more: boolean }>;
  keyCount?(): number | Promise<number>;
  /** The store's revision as reads here see it. */
  revision(): number;
  /** The stored reply of an applied write, if (clientId, seq) is the session's latest. */
  appliedResult?(clientId: string, seq: number): Promise<CommandResult | undefined>;
}
