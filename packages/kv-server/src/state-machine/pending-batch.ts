/**
 * The writes of the batch of entries being applied: LevelDB ops for one
 * batch, plus the values and session replies they set, which later entries of
 * the same batch read before LevelDB has them.
 */
import { Command, type CommandResult, type Entry, EntryType, type Event } from '@cairn/proto';
import type { BatchOp } from '../storage/database.js';
import type { StoredValue } from './records.js';

export class PendingBatch {
  /** By mapKey(key); null = deleted or absent. */
  readonly values = new Map<string, StoredValue | null>();
  readonly sessionResults = new Map<string, CommandResult>();
  readonly ops: BatchOp[] = [];
  /** The revisions this batch's commands produced, in order, with their events. */
  readonly revisions: RevisionEvents[] = [];
}

/** Which keys a watch or a history read is about. */
export interface KeyMatch {
  readonly key: Buffer;
  /** Every key starting with `key` (an empty key with prefix = every key). */
  readonly prefix: boolean;
}

/** The changes of one revision, in the order applied (what history stores and watchers get). */
export interface RevisionEvents {
  readonly revision: number;
  readonly events: readonly Event[];
}

/** A user key as a Map key (one char per byte). */
export function mapKey(key: Buffer): string {
  return key.toString('latin1');
}

/**
 * Each entry's command, decoded once for both prefetch and apply: undefined
 * for entries already applied or carrying no command, an Error for bad data.
 */
export function decodeCommands(entries: readonly Entry[], appliedIndex: number): Array<Command | Error | undefined> {
  return entries.map((entry) => {
    if (entry.index <= appliedIndex || entry.type !== EntryType.NORMAL || entry.data.length === 0) return undefined;
    try {
      return Command.decode(entry.data);
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
  });
}

/** The key a command reads and writes, if it has an operation. */
export function commandKey(command: Command): Buffer | undefined {
  return command.put?.key ?? command.append?.key ?? command.delete?.key ?? command.cas?.key;
}
