/**
 * Always-on assertions (TigerStyle). An AssertionError means raft-core's own
 * invariants are broken: the process must crash and restart, never carry on.
 */
export class AssertionError extends Error {
  readonly code = 'ASSERTION_FAILED';
  constructor(message: string) {
    super(message);
    this.name = 'AssertionError';
  }
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

export function assertNever(value: never, message = 'unexpected value'): never {
  throw new AssertionError(`${message}: ${String(value)}`);
}

/** Documents that a condition may be either true or false; it checks nothing. */
export function maybe(_condition: boolean): void {}
