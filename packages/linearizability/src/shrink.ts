/**
 * Shrinks the operations of a non-linearizable key to a small window that is
 * still a violation on its own: first the shortest failing prefix (by invoke
 * time, doubling), then greedy delta debugging (drop chunks, then single
 * operations, keeping every removal that preserves the violation).
 *
 * Two rules keep the window about the culprits:
 * - Version-blind first. When the values alone already show the violation
 *   (returned versions ignored, cas-by-version read as its effect), candidates
 *   are checked that way; the model only gets looser, so a window that fails
 *   version-blind fails for real. Otherwise every earlier write would be needed
 *   to explain a version like 60.
 * - Grounding. Every observation that the key's own writes can explain (a
 *   read value was written, a version n has n writes before it) must stay
 *   explained by the window's writes. Without it, dropping the put a read
 *   observed "preserves" the violation trivially and the culprits vanish.
 */
import { searchLinearization } from './search.js';
import type { ModelOperation } from './model.js';

export interface ShrinkOptions {
  /** Search bound for each candidate; a candidate that hits it counts as not failing. */
  readonly maxStatesPerCandidate: number;
  /** Total search steps for the whole shrink; when spent, the window so far is returned. */
  readonly maxStatesTotal: number;
}

export interface ShrinkResult<T> {
  readonly window: readonly T[];
  /** true when no single operation can be removed (1-minimal); false when the budget ran out first. */
  readonly minimal: boolean;
  /** true when the window fails even with returned versions ignored. */
  readonly versionBlind: boolean;
  readonly statesExplored: number;
}

type Verdict = boolean | 'budget';

/** `operations` must be non-linearizable; they are returned as a window in invoke order. */
export function shrinkViolation<T extends ModelOperation>(operations: readonly T[], options: ShrinkOptions): ShrinkResult<T> {
  let statesExplored = 0;
  const search = (view: readonly ModelOperation[]): Verdict => {
    if (statesExplored >= options.maxStatesTotal) return 'budget';
    const result = searchLinearization(view, Math.min(options.maxStatesPerCandidate, options.maxStatesTotal - statesExplored));
    statesExplored += result.statesExplored;
    return result.verdict === 'not-linearizable';
  };
  const versionBlind = search(versionBlindView(operations)) === true;
  const view = (candidate: readonly T[]): ModelOperation[] => (versionBlind ? versionBlindView(candidate) : [...candidate]);
  const fullFlags = groundedFlags(view(operations));
  const groundable = new Set(operations.filter((_operation, index) => fullFlags[index] === true));
  const fails = (candidate: readonly T[]): Verdict => {
    const flags = groundedFlags(view(candidate));
    if (candidate.some((operation, index) => groundable.has(operation) && !flags[index])) return false;
    return search(view(candidate));
  };

  const ordered = [...operations].sort((a, b) => a.invokeTime - b.invokeTime);
  let window = shortestFailingPrefix(ordered, fails);
  let exhausted = false;
  for (let size = Math.max(1, 2 ** Math.floor(Math.log2(window.length / 2))); ; size = Math.max(1, size / 2)) {
    const pass = removeChunks(window, size, fails);
    window = pass.window;
    if (pass.budgetSpent) {
      exhausted = true;
      break;
    }
    if (size === 1 && !pass.changed) break;
  }
  return { window, minimal: !exhausted, versionBlind, statesExplored };
}

/**
 * The same operations with returned versions ignored; a cas by version becomes
 * its observed effect (succeeded: a put; failed: nothing; unknown: an optional put).
 * Index i of the result belongs to operations[i], so nothing is dropped:
 * a failed cas-by-version becomes a get without a result (no effect, no constraint).
 */
export function versionBlindView(operations: readonly ModelOperation[]): ModelOperation[] {
  return operations.map((operation): ModelOperation => {
    const { input } = operation;
    if (input.kind === 'put' || input.kind === 'append') return { ...operation, output: undefined };
    if (input.kind === 'cas' && 'version' in input.expected) {
      return operation.output === false
        ? { ...operation, input: { kind: 'get' }, output: undefined }
        : { ...operation, input: { kind: 'put', value: input.newValue }, output: undefined };
    }
    return operation;
  });
}

function shortestFailingPrefix<T>(ordered: readonly T[], fails: (candidate: readonly T[]) => Verdict): readonly T[] {
  for (let length = 8; length < ordered.length; length *= 2) {
    const verdict = fails(ordered.slice(0, length));
    if (verdict === 'budget') break;
    if (verdict) return ordered.slice(0, length);
  }
  return ordered;
}

/** One pass from the end: drop each chunk of `size` whose removal keeps the window failing. */
function removeChunks<T>(
  window: readonly T[],
  size: number,
  fails: (candidate: readonly T[]) => Verdict,
): { window: readonly T[]; changed: boolean; budgetSpent: boolean } {
  let current = window;
  let changed = false;
  for (let start = current.length - size; start >= 0; start -= size) {
    const candidate = [...current.slice(0, start), ...current.slice(start + size)];
    const verdict = fails(candidate);
    if (verdict === 'budget') return { window: current, changed, budgetSpent: true };
    if (verdict) {
      current = candidate;
      changed = true;
    }
  }
  return { window: current, changed, budgetSpent: false };
}

/**
 * Per operation: whether its observation is explained by the other operations
 * (operations that observe nothing are always true):
 * - a value read or expected by a cas is built from the writes: written whole,
 *   or a shorter buildable value (or nothing) plus an appended suffix;
 * - an absent key (also as the start of appends) seen after some write
 *   finished needs a delete with no write finishing between the two;
 * - a cas that failed on value e needs a write of something other than e, a
 *   delete, or no write of e at all;
 * - an observed version n needs n writes invoked before the observer returned.
 */
export function groundedFlags(operations: readonly ModelOperation[]): boolean[] {
  const writes = new Writes(operations);
  return operations.map(({ input, output, invokeTime, returnTime }) => {
    if (output === undefined) return true;
    switch (input.kind) {
      case 'get':
        return output === null
          ? writes.absenceExplained(invokeTime, returnTime)
          : writes.buildable(output as string, invokeTime, returnTime);
      case 'put':
      case 'append':
        return writes.countInvokedBy(returnTime) >= (output as number);
      case 'delete':
        return output === false ? writes.absenceExplained(invokeTime, returnTime) : writes.countInvokedBy(returnTime) >= 1;
      case 'cas':
        if ('version' in input.expected) {
          if (output === false) return true;
          const version = input.expected.version;
          return version === 0 ? writes.absenceExplained(invokeTime, returnTime) : writes.countInvokedBy(returnTime) - 1 >= version;
        }
        return output === true
          ? writes.buildable(input.expected.value, invokeTime, returnTime)
          : writes.mismatchExplained(input.expected.value);
      case 'txn':
        return true;
    }
  });
}

interface Interval {
  readonly invokeTime: number;
  readonly returnTime: number;
}

/** Write intervals, indexed to ask whether one finished before a time or lies wholly between two times. */
class IntervalIndex {
  private readonly returnTimes: number[];
  private readonly invokeTimes: number[];
  /** earliestReturnFrom[i]: the earliest return among intervals i.. in invoke order. */
  private readonly earliestReturnFrom: number[];

  constructor(intervals: readonly Interval[]) {
    const byInvoke = [...intervals].sort((a, b) => a.invokeTime - b.invokeTime);
    this.invokeTimes = byInvoke.map((interval) => interval.invokeTime);
    this.returnTimes = intervals.map((interval) => interval.returnTime).sort((a, b) => a - b);
    this.earliestReturnFrom = new Array<number>(byInvoke.length + 1).fill(Infinity);
    for (let i = byInvoke.length - 1; i >= 0; i--)
      this.earliestReturnFrom[i] = Math.min(byInvoke[i]!.returnTime, this.earliestReturnFrom[i + 1]!);
  }

  anyFinishedBefore(time: number): boolean {
    return upperBound(this.returnTimes, time) > 0;
  }

  /** Whether some interval starts after `after` and ends before `before`. */
  anyWhollyBetween(after: number, before: number): boolean {
    return this.earliestReturnFrom[upperBound(this.invokeTimes, after)]! < before;
  }
}

/** The writes among some operations, indexed for groundedFlags(). */
class Writes {
  private readonly values = new Set<string>();
  private readonly suffixes = new Set<string>();
  private readonly invokeTimes: number[] = [];
  private readonly deletes: Interval[] = [];
  private readonly writes: IntervalIndex;
  /** Writes that replace the value (put, cas): appends may follow an absence they build on. */
  private readonly replacingWrites: IntervalIndex;

  constructor(operations: readonly ModelOperation[]) {
    const writes: Interval[] = [];
    const replacing: Interval[] = [];
    for (const { input, output, invokeTime, returnTime } of operations) {
      if (input.kind === 'delete' && output !== false) this.deletes.push({ invokeTime, returnTime });
      const isWrite = input.kind === 'put' || input.kind === 'append' || (input.kind === 'cas' && output !== false);
      if (!isWrite) continue;
      if (input.kind === 'put') this.values.add(input.value);
      if (input.kind === 'cas') this.values.add(input.newValue);
      if (input.kind === 'append') this.suffixes.add(input.suffix);
      else replacing.push({ invokeTime, returnTime });
      writes.push({ invokeTime, returnTime });
      this.invokeTimes.push(invokeTime);
    }
    this.invokeTimes.sort((a, b) => a - b);
    this.writes = new IntervalIndex(writes);
    this.replacingWrites = new IntervalIndex(replacing);
  }

  countInvokedBy(time: number): number {
    return upperBound(this.invokeTimes, time);
  }

  /**
   * Absent is explained when no write finished before the observer began, or
   * a delete began before it ended with no write wholly between the two.
   * `sinceWrites` chooses which writes count (appends do not when building on absence).
   */
  absenceExplained(invokeTime: number, returnTime: number, sinceWrites: IntervalIndex = this.writes): boolean {
    if (!sinceWrites.anyFinishedBefore(invokeTime)) return true;
    return this.deletes.some(
      (deletion) => deletion.invokeTime < returnTime && !sinceWrites.anyWhollyBetween(deletion.returnTime, invokeTime),
    );
  }

  mismatchExplained(value: string): boolean {
    return !this.values.has(value) || this.values.size > 1 || this.suffixes.size > 0 || this.deletes.length > 0;
  }

  /** Whether `value` is a written value, or (recursively) a buildable prefix plus an appended suffix. */
  buildable(value: string, invokeTime: number, returnTime: number): boolean {
    if (this.values.has(value)) return true;
    if (this.suffixes.size === 0) return false;
    // reachable[i]: value's first i chars can be built; 0 chars is the absent key.
    const reachable = new Uint8Array(value.length + 1);
    reachable[0] = this.absenceExplained(invokeTime, returnTime, this.replacingWrites) ? 1 : 0;
    for (const written of this.values) if (value.startsWith(written)) reachable[written.length] = 1;
    for (let end = 1; end <= value.length; end++) {
      if (reachable[end] === 1) continue;
      for (const suffix of this.suffixes) {
        if (suffix.length <= end && reachable[end - suffix.length] === 1 && value.startsWith(suffix, end - suffix.length)) {
          reachable[end] = 1;
          break;
        }
      }
    }
    return reachable[value.length] === 1;
  }
}

/** How many of the sorted `times` are <= `time`. */
function upperBound(times: readonly number[], time: number): number {
  let low = 0;
  let high = times.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (times[middle]! <= time) low = middle + 1;
    else high = middle;
  }
  return low;
}
