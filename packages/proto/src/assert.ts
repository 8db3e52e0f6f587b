/**
 * Always-on assertions (TigerStyle), the one helper every Cairn package uses
 * (it lives here because every package, the Clerk included, may import proto).
 * An AssertionError is a bug in the code that asserted: the process must
 * crash and restart, never catch it to carry on.
 */
export class AssertionError extends Error {
  readonly code = 'ASSERTION_FAILED';
  constructor(message: string) {
    super(message);
    this.name = 'AssertionError';
  }
}

export function assert(condition: unknown, message = 'assertion failed'): asserts condition {
  if (!condition) throw new AssertionError(message);
}

export function assertNever(value: never, message = 'unexpected value'): never {
  throw new AssertionError(`${message}: ${String(value)}`);
}
