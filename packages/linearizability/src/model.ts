/**
 * The sequential specification of one Cairn key: a register with a version.
 * Versions start at 1 on creation, grow by 1 per change, and a delete resets
 * the key (a re-created key starts at 1 again). Mirrors the server's
 * KvStateMachine (packages/kv-server/src/state-machine/kv-state-machine.ts).
 */

/** One key's state; `version` 0 means absent (and then `value` is undefined). */
export interface RegisterState {
  readonly value: string | undefined;
  readonly version: number;
}

export const ABSENT: RegisterState = { value: undefined, version: 0 };

/** What the operation asked for. Byte strings are canonical (one char per byte). */
export type OperationInput =
  | { readonly kind: 'put'; readonly value: string }
  | { readonly kind: 'get' }
  | { readonly kind: 'append'; readonly suffix: string }
  | { readonly kind: 'delete' }
  | { readonly kind: 'cas'; readonly expected: { readonly value: string } | { readonly version: number }; readonly newValue: string }
  /** Checked by the kv model (kv-model.ts) only; a history with a txn is never checked per key. */
  | { readonly kind: 'txn' };

/**
 * What it observed, for a completed (`ok`) operation: get → value or null;
 * put/append → new version; delete → deleted; cas → succeeded. `undefined`
 * for an unknown outcome (`info`), or an `ok` record without a result.
 */
export type OperationOutput = string | number | boolean | null | undefined;

/** When an operation ran and whether it must take effect: what the search needs of any model's operations. */
export interface TimedOperation {
  /** false for `info`: it may take effect at any point after its invoke, or never. */
  readonly required: boolean;
  readonly invokeTime: number;
  /** Infinity for `info`. */
  readonly returnTime: number;
}

/** An operation as the model sees it. */
export interface ModelOperation extends TimedOperation {
  readonly input: OperationInput;
  readonly output: OperationOutput;
}

/**
 * Applies `operation` to `state` as if it ran alone. Returns the next state,
 * or undefined when the observed output is impossible from `state`.
 * Every observed field is a constraint (a put's returned version included).
 */
export function stepRegister(state: RegisterState, operation: ModelOperation): RegisterState | undefined {
  const { input, output } = operation;
  switch (input.kind) {
    case 'get':
      if (output === undefined) return state;
      return output === (state.value ?? null) ? state : undefined;
    case 'put':
      return written(state, input.value, output);
    case 'append':
      return written(state, (state.value ?? '') + input.suffix, output);
    case 'delete': {
      const present = state.version > 0;
      if (output !== undefined && output !== present) return undefined;
      return ABSENT;
    }
    case 'cas': {
      const matches =
        'version' in input.expected
          ? state.version === input.expected.version
          : state.value !== undefined && state.value === input.expected.value;
      if (output !== undefined && output !== matches) return undefined;
      return matches ? { value: input.newValue, version: state.version + 1 } : state;
    }
    case 'txn':
      return undefined;
  }
}

function written(state: RegisterState, value: string, observedVersion: OperationOutput): RegisterState | undefined {
  const version = state.version + 1;
  if (observedVersion !== undefined && observedVersion !== version) return undefined;
  return { value, version };
}

/** A string that identifies a state, for memoization. */
export function stateKey(state: RegisterState): string {
  return state.value === undefined ? '-' : `${state.version}:${state.value}`;
}

/** The register model for the search: one key, absent at the start. */
export const REGISTER_MODEL = { initial: ABSENT, step: stepRegister, stateKey } as const;
