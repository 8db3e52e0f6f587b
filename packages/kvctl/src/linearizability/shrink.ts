/**
 * Shrinks the operations of a non-linearizable key to a small window that is
 * still a violation on its own: first the shortest failing prefix (by invoke
 * time, doubling), then greedy delta debugging (drop chunks, then single
 * operations, keeping every removal that preserves the violation).
 *
 * A candidate must also be *grounded*: each value it observes was written by
 * one of its own operations, and each version it observes is reachable with
 * its own writes. Without that rule, dropping the put that a read observed
 * "preserves" the violation trivially and the window loses its culprits.
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
  readonly statesExplored: number;
}

/** `operations` must be non-linearizable; they are returned as a window in invoke order. */
export function shrinkViolation<T extends ModelOperation>(operations: readonly T[], options: ShrinkOptions): ShrinkResult<T> {
  let statesExplored = 0;
  const fails = (candidate: readonly T[]): boolean | 'budget' => {
    if (statesExplored >= options.maxStatesTotal) return 'budget';
    if (!isGrounded(candidate)) return false;
    const search = searchLinearization(candidate, Math.min(options.maxStatesPerCandidate, options.maxStatesTotal - statesExplored));
    statesExplored += search.statesExplored;
    return search.verdict === 'not-linearizable';
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
  return { window, minimal: !exhausted, statesExplored };
}

function shortestFailingPrefix<T>(ordered: readonly T[], fails: (candidate: readonly T[]) => boolean | 'budget'): readonly T[] {
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
  fails: (candidate: readonly T[]) => boolean | 'budget',
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
 * Whether every observation in `operations` can be explained by their own
 * writes: read values and cas expectations were written (or end with an
 * appended suffix), and each observed version n has at least n writes
 * invoked before the observer returned.
 */
export function isGrounded(operations: readonly ModelOperation[]): boolean {
  const written = new Set<string>();
  const suffixes: string[] = [];
  const writeTimes: number[] = [];
  for (const { input, output } of operations) {
    if (input.kind === 'put') written.add(input.value);
    if (input.kind === 'cas' && output !== false) written.add(input.newValue);
    if (input.kind === 'append') suffixes.push(input.suffix);
  }
  for (const operation of operations) {
    const isWrite = operation.input.kind === 'put' || operation.input.kind === 'append' || (operation.input.kind === 'cas' && operation.output !== false);
    if (isWrite) writeTimes.push(operation.invokeTime);
  }
  writeTimes.sort((a, b) => a - b);
  const producible = (value: string): boolean => written.has(value) || suffixes.some((suffix) => value.endsWith(suffix));
  const writesBefore = (time: number): number => upperBound(writeTimes, time);
  return operations.every(({ input, output, returnTime }) => {
    if (output === undefined) return true;
    switch (input.kind) {
      case 'get':
        return output === null || producible(output as string);
      case 'put':
      case 'append':
        return writesBefore(returnTime) >= (output as number);
      case 'delete':
        return output === false || writesBefore(returnTime) >= 1;
      case 'cas':
        if (output === false) return true;
        if ('version' in input.expected) return writesBefore(returnTime) - 1 >= input.expected.version;
        return producible(input.expected.value);
    }
  });
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
