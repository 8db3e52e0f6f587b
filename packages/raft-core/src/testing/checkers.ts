import { EntryType } from '@cairn/proto';
import type { Entry } from '@cairn/proto';
import type { LogReader } from '../storage.js';
import type { NodeId } from '../types.js';

/**
 * What a simulation run found wrong. Safety codes name the Raft property
 * (paper Figure 3); READY_CONTRACT means the core broke the Ready/advance
 * contract the server relies on; CORE_ERROR is an exception thrown by the core.
 */
export type ViolationCode =
  | 'ELECTION_SAFETY'
  | 'LOG_MATCHING'
  | 'LEADER_COMPLETENESS'
  | 'STATE_MACHINE_SAFETY'
  | 'DUPLICATE_APPLY'
  | 'DURABILITY'
  | 'LIVENESS'
  | 'READY_CONTRACT'
  | 'CORE_ERROR';

/** Thrown by the checkers and the simulator; the run stops at the first one. */
export class SimViolationError extends Error {
  constructor(
    readonly code: ViolationCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`${code}: ${message}`, options);
    this.name = new.target.name;
  }
}

/** Throws a SimViolationError with `code` unless `condition` holds. */
export function check(condition: unknown, code: ViolationCode, message: () => string): asserts condition {
  if (!condition) throw new SimViolationError(code, message());
}

/** A state machine command as the checkers see it: log index plus value. */
export type AppliedValue = readonly [index: number, value: string];

/** A stable text form of an entry's content, for equality across nodes. */
export function entryContent(entry: Entry): string {
  return `${entry.type}:${dataText(entry.data)}`;
}

/** Command bytes as text without copying (the workload only proposes ASCII). */
export function dataText(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1');
}

/**
 * Observes every node's log, role and applied entries as the simulation runs
 * and checks the Raft safety properties incrementally:
 * - election safety: at most one leader per term, across all time (hashicorp's
 *   appendEntriesVerifier idea);
 * - log matching: an (index, term) pair always names the same content and the
 *   same predecessor term, which by induction makes logs agree on the prefix;
 * - leader completeness: a leader of term T holds every entry committed in an
 *   earlier term;
 * - state machine safety: every node applies the same entry at each index
 *   (TigerBeetle's StateChecker), and no command is applied twice;
 * - durability: every acknowledged command is applied on every final member.
 */
export class SafetyChecker {
  private readonly leaderByTerm = new Map<number, NodeId>();
  /** `${index}/${term}` -> content and the term of the entry before it. */
  private readonly entryByPosition = new Map<string, { content: string; previousTerm: number }>();
  /** Committed entries by index: term, content, and an upper bound on the term that committed it. */
  private readonly committedTerm: number[] = [0];
  private readonly committedContent: string[] = [''];
  private readonly committedBoundTerm: number[] = [0];
  private readonly valueIndex = new Map<string, number>();
  private readonly acked = new Map<string, number>();
  leadersObserved = 0;

  get committedIndexMax(): number {
    return this.committedTerm.length - 1;
  }

  get ackedCount(): number {
    return this.acked.size;
  }

  /** The highest index of any acknowledged command (0 if none). */
  get ackedIndexMax(): number {
    let max = 0;
    for (const index of this.acked.values()) max = Math.max(max, index);
    return max;
  }

  /** Called when `id` acts as leader of `term` with `log` holding its whole log. */
  observeLeader(id: NodeId, term: number, log: LogReader): void {
    const known = this.leaderByTerm.get(term);
    if (known !== undefined) {
      check(known === id, 'ELECTION_SAFETY', () => `nodes ${known} and ${id} were both leader of term ${term}`);
      return;
    }
    this.leaderByTerm.set(term, id);
    this.leadersObserved++;
    this.checkLeaderCompleteness(id, term, log);
  }

  /** Called after `entries` were written to `log` (which now holds them). */
  observeAppend(id: NodeId, entries: readonly Entry[], log: LogReader): void {
    let previousTerm: number | undefined;
    for (const entry of entries) {
      if (previousTerm === undefined) previousTerm = safeTerm(log, entry.index - 1);
      const key = `${entry.index}/${entry.term}`;
      const content = entryContent(entry);
      const known = this.entryByPosition.get(key);
      if (known === undefined) {
        if (previousTerm !== undefined) this.entryByPosition.set(key, { content, previousTerm });
      } else {
        check(known.content === content, 'LOG_MATCHING', () => `node ${id} wrote entry ${key} with different content than another node`);
        check(
          previousTerm === undefined || known.previousTerm === previousTerm,
          'LOG_MATCHING',
          () => `node ${id} has entry ${key} after term ${previousTerm}; another log has it after term ${known.previousTerm}`,
        );
      }
      previousTerm = entry.term;
    }
  }

  /** Called for each committed entry `id` hands to its state machine; `nodeTerm` is the node's term then. */
  observeCommitted(id: NodeId, entry: Entry, nodeTerm: number): void {
    const content = entryContent(entry);
    if (entry.index < this.committedTerm.length) {
      check(
        this.committedTerm[entry.index] === entry.term && this.committedContent[entry.index] === content,
        'STATE_MACHINE_SAFETY',
        () =>
          `node ${id} applied ${entry.index}/${entry.term} but ` +
          `${entry.index}/${this.committedTerm[entry.index]} was applied elsewhere`,
      );
      this.committedBoundTerm[entry.index] = Math.min(this.committedBoundTerm[entry.index]!, nodeTerm);
    } else {
      // Nodes apply in index order, so the first sighting of index i comes after i - 1.
      check(
        entry.index === this.committedTerm.length,
        'STATE_MACHINE_SAFETY',
        () => `node ${id} applied index ${entry.index} before anyone applied ${this.committedTerm.length}`,
      );
      this.committedTerm.push(entry.term);
      this.committedContent.push(content);
      this.committedBoundTerm.push(nodeTerm);
    }
    if (entry.type === EntryType.NORMAL && entry.data.length > 0) {
      const value = dataText(entry.data);
      const firstIndex = this.valueIndex.get(value);
      check(
        firstIndex === undefined || firstIndex === entry.index,
        'DUPLICATE_APPLY',
        () => `command ${value} applied at index ${entry.index} and at index ${firstIndex}`,
      );
      this.valueIndex.set(value, entry.index);
    }
  }

  /** Called when `id` restores its state machine from a snapshot covering up to `index`. */
  observeSnapshotRestored(id: NodeId, index: number, values: readonly AppliedValue[]): void {
    check(
      index <= this.committedIndexMax,
      'STATE_MACHINE_SAFETY',
      () => `node ${id} restored a snapshot at ${index}, beyond anything applied (${this.committedIndexMax})`,
    );
    for (const [valueIndex, value] of values) {
      check(
        valueIndex <= index && this.committedContent[valueIndex] === `${EntryType.NORMAL}:${value}`,
        'STATE_MACHINE_SAFETY',
        () => `node ${id} restored a snapshot whose entry ${valueIndex} differs from the applied one`,
      );
    }
  }

  /** The index at which `value` was acknowledged, if it was. */
  ackIndexOf(value: string): number | undefined {
    return this.acked.get(value);
  }

  /** A client was told its command `value` succeeded at `index`. */
  observeAck(value: string, index: number): void {
    this.acked.set(value, index);
  }

  /** Durability: every acknowledged command is in every listed member's state machine. */
  checkDurability(members: ReadonlyMap<NodeId, readonly AppliedValue[]>): void {
    for (const [id, values] of members) {
      const present = new Set(values.map(([, value]) => value));
      for (const [value, index] of this.acked) {
        check(present.has(value), 'DURABILITY', () => `acknowledged command ${value} (index ${index}) is missing on node ${id}`);
      }
    }
  }

  /** A full pairwise log-matching pass over the current logs (slower; run at checkpoints). */
  checkLogMatching(logs: ReadonlyMap<NodeId, LogReader>): void {
    const entries = [...logs];
    for (let a = 0; a < entries.length; a++) {
      for (let b = a + 1; b < entries.length; b++) {
        const [idA, logA] = entries[a]!;
        const [idB, logB] = entries[b]!;
        checkPairMatches(idA, logA, idB, logB);
      }
    }
  }

  private checkLeaderCompleteness(id: NodeId, term: number, log: LogReader): void {
    const first = log.firstIndex();
    const last = log.lastIndex();
    // Everything below first - 1 is covered by the leader's snapshot.
    for (let index = Math.max(1, first - 1); index <= this.committedIndexMax; index++) {
      // Only entries certainly committed in an earlier term must be present.
      if (this.committedBoundTerm[index]! >= term) continue;
      check(
        index <= last,
        'LEADER_COMPLETENESS',
        () => `leader ${id} of term ${term} lacks committed index ${index} (its last index is ${last})`,
      );
      const found = safeTerm(log, index);
      check(
        found === undefined || found === this.committedTerm[index],
        'LEADER_COMPLETENESS',
        () => `leader ${id} of term ${term} has ${index}/${found}, but ${index}/${this.committedTerm[index]} was committed`,
      );
    }
  }
}

function checkPairMatches(idA: NodeId, logA: LogReader, idB: NodeId, logB: LogReader): void {
  const low = Math.max(logA.firstIndex(), logB.firstIndex());
  const high = Math.min(logA.lastIndex(), logB.lastIndex());
  let matched = false;
  for (let index = high; index >= low; index--) {
    const termA = logA.term(index);
    const termB = logB.term(index);
    if (!matched && termA !== termB) continue;
    if (!matched) {
      matched = true;
    }
    check(
      termA === termB,
      'LOG_MATCHING',
      () => `nodes ${idA} and ${idB} agree at a later index but differ at ${index} (terms ${termA} vs ${termB})`,
    );
    const [entryA] = logA.entries(index, index + 1, Number.MAX_SAFE_INTEGER);
    const [entryB] = logB.entries(index, index + 1, Number.MAX_SAFE_INTEGER);
    check(
      entryA !== undefined && entryB !== undefined && entryContent(entryA) === entryContent(entryB),
      'LOG_MATCHING',
      () => `nodes ${idA} and ${idB} hold different content at ${index}/${termA}`,
    );
  }
}

function safeTerm(log: LogReader, index: number): number | undefined {
  if (index < 0) return undefined;
  if (index === 0) return 0;
  try {
    return log.term(index);
  } catch {
    return undefined;
  }
}
