/**
 * The sequential specification of the whole Cairn store with revisions: every
 * key, and one revision counter. Each command that changes something moves the
 * store to the next revision and all its changes share it (a txn's puts and
 * deletes included); a command that changes nothing leaves it. Keys carry
 * version, create and mod revision and lease. Mirrors the server's
 * apply-command.ts (packages/kv-server/src/state-machine).
 *
 * The revision before the history is often unknown (other writes came first),
 * so revisions are kept as offsets from an unknown base; the first observed
 * revision fixes the base, and every later one must agree with it.
 */
import type { HistoryKeyMeta } from './history.js';

/** A present key; `create`/`mod` are revision offsets from the base. */
export interface KvEntry {
  readonly value: string;
  readonly version: number;
  readonly create: number;
  readonly mod: number;
  readonly lease: number;
}

export interface KvState {
  /** The revision when the history starts; undefined until an observation fixes it. */
  readonly base: number | undefined;
  /** Changing commands applied so far (the revision is base + offset). */
  readonly offset: number;
  readonly keys: ReadonlyMap<string, KvEntry>;
}

/** Everything absent; `startRevision` when known. */
export function initialKvState(startRevision?: number): KvState {
  return { base: startRevision, offset: 0, keys: new Map() };
}

/** A key and value with metadata as observed (absolute revisions). */
export interface KvObserved extends HistoryKeyMeta {
  readonly key: string;
  readonly value: string;
}

export interface KvCompare {
  readonly key: string;
  readonly target: 'value' | 'version' | 'create' | 'mod' | 'lease';
  readonly op: '=' | '!=' | '<' | '>';
  readonly operand: string | number;
}

export type KvTxnOp =
  | { readonly op: 'put'; readonly key: string; readonly value: string; readonly lease: number }
  | { readonly op: 'get'; readonly key: string }
  | { readonly op: 'delete'; readonly key: string; readonly prefix: boolean }
  | { readonly op: 'range'; readonly key: string };

export type KvTxnOpResult =
  | { readonly op: 'put' }
  | { readonly op: 'get'; readonly kv: KvObserved | null }
  | { readonly op: 'range'; readonly kvs: readonly KvObserved[] }
  | { readonly op: 'delete'; readonly deleted: number };

/** What the operation asked for; byte strings canonical (one char per byte). */
export type KvInput =
  | { readonly kind: 'put'; readonly key: string; readonly value: string; readonly lease: number }
  | { readonly kind: 'append'; readonly key: string; readonly suffix: string }
  | { readonly kind: 'get'; readonly key: string }
  | { readonly kind: 'delete'; readonly key: string }
  | {
      readonly kind: 'cas';
      readonly key: string;
      readonly expected: { readonly value: string } | { readonly version: number };
      readonly newValue: string;
    }
  | {
      readonly kind: 'txn';
      readonly compare: readonly KvCompare[];
      readonly success: readonly KvTxnOp[];
      readonly failure: readonly KvTxnOp[];
    };

/**
 * What an `ok` operation observed; every present field is a constraint.
 * result: get → value or null; put/append → version; delete → deleted; cas/txn → succeeded.
 */
export interface KvOutput {
  readonly result?: string | number | boolean | null;
  readonly revision?: number;
  readonly meta?: HistoryKeyMeta;
  readonly txnResults?: readonly KvTxnOpResult[];
}

export interface KvOperation {
  readonly input: KvInput;
  /** undefined for an unknown outcome. */
  readonly output: KvOutput | undefined;
  readonly required: boolean;
  readonly invokeTime: number;
  readonly returnTime: number;
}

/**
 * A state being changed by one command: writes land in `keys` at offset `state.offset + 1`.
 * The key map is copied only on the first write, so a command that writes nothing
 * (a read, a failed compare) hands back the state's own map, and its cached key list
 * (see kvStateKey) is reused.
 */
class Draft {
  /** `state.keys` until the first write, then this draft's own copy. */
  keys: ReadonlyMap<string, KvEntry>;
  private owned: Map<string, KvEntry> | undefined;
  changed = false;
  base: number | undefined;

  constructor(readonly state: KvState) {
    this.keys = state.keys;
    this.base = state.base;
  }

  /** The map to write to: copied from the state's on first use. */
  private writable(): Map<string, KvEntry> {
    if (this.owned === undefined) {
      this.owned = new Map(this.state.keys);
      this.keys = this.owned;
    }
    return this.owned;
  }

  get writeOffset(): number {
    return this.state.offset + 1;
  }

  put(key: string, value: string, lease: number): KvEntry {
    const previous = this.keys.get(key);
    const next = {
      value,
      version: (previous?.version ?? 0) + 1,
      create: previous?.create ?? this.writeOffset,
      mod: this.writeOffset,
      lease,
    };
    this.writable().set(key, next);
    this.changed = true;
    return next;
  }

  delete(key: string): boolean {
    if (!this.keys.has(key)) return false;
    this.writable().delete(key);
    this.changed = true;
    return true;
  }

  /** Constrains `base + offset` to equal `revision`: fixes the base when it is still unknown. */
  pin(offset: number, revision: number | undefined): boolean {
    if (revision === undefined) return true;
    if (this.base === undefined) {
      if (revision - offset < 0) return false;
      this.base = revision - offset;
      return true;
    }
    return this.base + offset === revision;
  }

  /** The observed metadata must be the entry's (revisions pin the base). */
  matchesMeta(entry: KvEntry, meta: HistoryKeyMeta | undefined): boolean {
    if (meta === undefined) return true;
    return (
      meta.version === entry.version &&
      (meta.lease ?? 0) === entry.lease &&
      this.pin(entry.create, meta.createRevision) &&
      this.pin(entry.mod, meta.modRevision)
    );
  }

  matchesKv(key: string, observed: KvObserved | null): boolean {
    const entry = this.keys.get(key);
    if (observed === null || entry === undefined) return observed === null && entry === undefined;
    return observed.key === key && observed.value === entry.value && this.matchesMeta(entry, observed);
  }

  /** The next state, with the header revision checked: the command's own when it changed something, else the current one. */
  finish(revision: number | undefined): KvState | undefined {
    const offset = this.changed ? this.writeOffset : this.state.offset;
    if (!this.pin(offset, revision)) return undefined;
    return { base: this.base, offset, keys: this.changed ? this.keys : this.state.keys };
  }
}

/** Applies `operation` as if it ran alone; undefined when its observed output is impossible from `state`. */
export function stepKv(state: KvState, operation: KvOperation): KvState | undefined {
  const { input, output } = operation;
  const draft = new Draft(state);
  const result = output?.result;
  switch (input.kind) {
    case 'get': {
      const entry = draft.keys.get(input.key);
      if (result !== undefined && result !== (entry?.value ?? null)) return undefined;
      if (entry !== undefined && !draft.matchesMeta(entry, output?.meta)) return undefined;
      if (entry === undefined && output?.meta !== undefined) return undefined;
      break;
    }
    case 'put':
    case 'append': {
      const previous = draft.keys.get(input.key);
      const next =
        input.kind === 'put'
          ? draft.put(input.key, input.value, input.lease)
          : draft.put(input.key, (previous?.value ?? '') + input.suffix, previous?.lease ?? 0);
      if (result !== undefined && result !== next.version) return undefined;
      break;
    }
    case 'delete': {
      const deleted = draft.delete(input.key);
      if (result !== undefined && result !== deleted) return undefined;
      break;
    }
    case 'cas': {
      const previous = draft.keys.get(input.key);
      const matches =
        'version' in input.expected ? (previous?.version ?? 0) === input.expected.version : previous?.value === input.expected.value;
      if (result !== undefined && result !== matches) return undefined;
      if (matches) draft.put(input.key, input.newValue, previous?.lease ?? 0);
      break;
    }
    case 'txn': {
      const holds = input.compare.every((compare) => evaluateCompare(draft, compare));
      if (result !== undefined && result !== holds) return undefined;
      const ops = holds ? input.success : input.failure;
      const observed = output?.txnResults;
      if (observed !== undefined && observed.length !== ops.length) return undefined;
      for (let index = 0; index < ops.length; index++) {
        if (!applyTxnOp(draft, ops[index]!, observed?.[index])) return undefined;
      }
      break;
    }
  }
  return draft.finish(output?.revision);
}

/**
 * One compare against the state. An absent key has version, create, mod and
 * lease 0 and no value (a value compare is false). A create/mod compare on a
 * present key needs the base revision: an observation must have fixed it.
 */
function evaluateCompare(draft: Draft, compare: KvCompare): boolean {
  const entry = draft.keys.get(compare.key);
  let actual: string | number;
  switch (compare.target) {
    case 'value':
      if (entry === undefined) return false;
      actual = entry.value;
      break;
    case 'version':
      actual = entry?.version ?? 0;
      break;
    case 'lease':
      actual = entry?.lease ?? 0;
      break;
    case 'create':
    case 'mod': {
      if (entry === undefined) {
        actual = 0;
        break;
      }
      if (draft.base === undefined) return false;
      actual = draft.base + (compare.target === 'create' ? entry.create : entry.mod);
      break;
    }
  }
  const operand = compare.operand;
  switch (compare.op) {
    case '=':
      return actual === operand;
    case '!=':
      return actual !== operand;
    case '<':
      return actual < operand;
    case '>':
      return actual > operand;
  }
}

/** Applies one op of the txn's branch; false when its observed result does not fit. */
function applyTxnOp(draft: Draft, op: KvTxnOp, observed: KvTxnOpResult | undefined): boolean {
  if (observed !== undefined && observed.op !== op.op) return false;
  switch (op.op) {
    case 'put':
      draft.put(op.key, op.value, op.lease);
      return true;
    case 'get':
      return observed === undefined || (observed.op === 'get' && draft.matchesKv(op.key, observed.kv));
    case 'range': {
      if (observed === undefined || observed.op !== 'range') return true;
      const keys = [...draft.keys.keys()].filter((key) => key.startsWith(op.key)).sort();
      return observed.kvs.length === keys.length && keys.every((key, index) => draft.matchesKv(key, observed.kvs[index]!));
    }
    case 'delete': {
      const keys = op.prefix ? [...draft.keys.keys()].filter((key) => key.startsWith(op.key)) : [op.key];
      const deleted = keys.filter((key) => draft.delete(key)).length;
      return observed === undefined || (observed.op === 'delete' && observed.deleted === deleted);
    }
  }
}

/**
 * The key-list part of kvStateKey, per map. A state's map is never written
 * after the step that made it (Draft copies before writing), and a step that
 * writes nothing passes its map on, so the list is encoded once per map.
 */
const keyListCache = new WeakMap<ReadonlyMap<string, KvEntry>, string>();

function keyList(keys: ReadonlyMap<string, KvEntry>): string {
  let list = keyListCache.get(keys);
  if (list === undefined) {
    const entries = [...keys].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    list = entries
      .map(([key, e]) => `${JSON.stringify(key)}=${e.version}.${e.create}.${e.mod}.${e.lease}:${JSON.stringify(e.value)}`)
      .join(',');
    keyListCache.set(keys, list);
  }
  return list;
}

/** Identifies a state for memoization: base, offset and every key in order. */
export function kvStateKey(state: KvState): string {
  return `${state.base ?? '?'}|${state.offset}|${keyList(state.keys)}`;
}

/** The kv model for the search, from `startRevision` when known. */
export function kvModel(startRevision?: number): { initial: KvState; step: typeof stepKv; stateKey: typeof kvStateKey } {
  return { initial: initialKvState(startRevision), step: stepKv, stateKey: kvStateKey };
}
