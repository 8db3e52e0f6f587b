/**
 * Wing & Gong's linearizability search with Lowe's just-in-time linearization
 * and memoization (the algorithm of Knossos' "wgl" and Porcupine), for the
 * operations of one key.
 *
 * Call and return events sit in a time-ordered doubly linked list. The search
 * walks it: at a call it tries to linearize that operation now (model step),
 * lifts it out of the list and restarts from the head; at the return of an
 * operation not yet linearized it backtracks. A (linearized set, state) pair
 * already explored is skipped. `info` operations have no return event, so
 * they may be linearized at any point after their call; the search succeeds
 * once every `ok` operation is linearized, leaving the rest out (never applied).
 */
import { assert } from '@cairn/proto';
import { REGISTER_MODEL, type TimedOperation } from './model.js';

export type SearchVerdict = 'linearizable' | 'not-linearizable' | 'unknown';

export interface SearchResult {
  readonly verdict: SearchVerdict;
  /** Model steps tried (the search bound counts these). */
  readonly statesExplored: number;
  /** Distinct (linearized set, state) pairs remembered. */
  readonly cacheSize: number;
  /** The most operations linearized at once (how far the search got). */
  readonly deepest: number;
}

interface Event {
  readonly isCall: boolean;
  readonly operation: number;
  readonly time: number;
  /** For a call: its return event (undefined for `info`). */
  match: Event | undefined;
  prev: Event | undefined;
  next: Event | undefined;
}

/** A sequential specification: a start state, a step (undefined = the observed output is impossible), and a state's identity. */
export interface SearchModel<O, S> {
  readonly initial: S;
  step(state: S, operation: O): S | undefined;
  stateKey(state: S): string;
}

/**
 * Searches for a linearization of `operations` from the model's initial state
 * (by default one absent key); gives up with `unknown` after `maxStates` steps.
 */
export function searchLinearization<O extends TimedOperation, S>(
  operations: readonly O[],
  maxStates: number,
  model: SearchModel<O, S> = REGISTER_MODEL as unknown as SearchModel<O, S>,
): SearchResult {
  const head = buildEventList(operations);
  const linearized = new LinearizedSet(operations.length);
  const cache = new Map<string, Uint32Array[]>();
  const stack: { call: Event; state: S }[] = [];
  let remaining = operations.filter((operation) => operation.required).length;
  let state = model.initial;
  let statesExplored = 0;
  let deepest = 0;
  const result = (verdict: SearchVerdict): SearchResult => ({ verdict, statesExplored, cacheSize: cache.size, deepest });
  if (remaining === 0) return result('linearizable');
  let event = head.next;
  for (;;) {
    // Some `ok` operation is still in the list, and its return event ends the walk at the latest.
    assert(event !== undefined, 'the event list ended before every ok operation was linearized');
    if (!event.isCall) {
      const top = stack.pop();
      if (top === undefined) return result('not-linearizable');
      state = top.state;
      linearized.toggle(top.call.operation);
      unlift(top.call);
      if (operations[top.call.operation]!.required) remaining++;
      event = top.call.next;
      continue;
    }
    if (++statesExplored > maxStates) return result('unknown');
    const operation = operations[event.operation]!;
    const next = model.step(state, operation);
    if (next !== undefined) {
      linearized.toggle(event.operation);
      if (remember(cache, `${linearized.hash}|${model.stateKey(next)}`, linearized)) {
        stack.push({ call: event, state });
        state = next;
        lift(event);
        deepest = Math.max(deepest, stack.length);
        if (operation.required && --remaining === 0) return result('linearizable');
        event = head.next;
        continue;
      }
      linearized.toggle(event.operation);
    }
    event = event.next;
  }
}

/** Adds the configuration to the cache; false when it was already there. */
function remember(cache: Map<string, Uint32Array[]>, key: string, linearized: LinearizedSet): boolean {
  const bucket = cache.get(key);
  if (bucket === undefined) {
    cache.set(key, [linearized.copy()]);
    return true;
  }
  if (bucket.some((bits) => linearized.equals(bits))) return false;
  bucket.push(linearized.copy());
  return true;
}

/** Calls and returns in time order behind a sentinel head; at equal times calls come first (overlap is the benefit of the doubt). */
function buildEventList(operations: readonly TimedOperation[]): Event {
  const events: Event[] = [];
  operations.forEach((operation, index) => {
    const call: Event = { isCall: true, operation: index, time: operation.invokeTime, match: undefined, prev: undefined, next: undefined };
    events.push(call);
    if (Number.isFinite(operation.returnTime)) {
      call.match = { isCall: false, operation: index, time: operation.returnTime, match: undefined, prev: undefined, next: undefined };
      events.push(call.match);
    }
  });
  events.sort((a, b) => a.time - b.time || Number(b.isCall) - Number(a.isCall) || a.operation - b.operation);
  const head: Event = { isCall: false, operation: -1, time: -Infinity, match: undefined, prev: undefined, next: undefined };
  let last = head;
  for (const event of events) {
    last.next = event;
    event.prev = last;
    last = event;
  }
  return head;
}

function lift(call: Event): void {
  unlink(call);
  if (call.match !== undefined) unlink(call.match);
}

/** Undoes lift(); the neighbours' pointers still name the removed events (dancing links). */
function unlift(call: Event): void {
  if (call.match !== undefined) relink(call.match);
  relink(call);
}

function unlink(event: Event): void {
  event.prev!.next = event.next;
  if (event.next !== undefined) event.next.prev = event.prev;
}

function relink(event: Event): void {
  event.prev!.next = event;
  if (event.next !== undefined) event.next.prev = event;
}

/** A bitset of linearized operations with an incrementally kept Zobrist hash. */
class LinearizedSet {
  private readonly bits: Uint32Array;
  hash = 0;

  constructor(size: number) {
    this.bits = new Uint32Array(Math.ceil(size / 32));
  }

  toggle(index: number): void {
    this.bits[index >>> 5]! ^= 1 << (index & 31);
    this.hash = (this.hash ^ mix32(index)) >>> 0;
  }

  copy(): Uint32Array {
    return this.bits.slice();
  }

  equals(other: Uint32Array): boolean {
    for (let i = 0; i < this.bits.length; i++) if (this.bits[i] !== other[i]) return false;
    return true;
  }
}

/** A fixed pseudo-random 32-bit value per index (murmur3's finalizer), so hashes are reproducible. */
function mix32(index: number): number {
  let h = Math.imul(index + 1, 0x9e3779b1);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
