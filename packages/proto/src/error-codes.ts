/**
 * The stable codes a failed API call carries in its ErrorDetail (the
 * `cairn-error-bin` trailer). The server and every client share this one list,
 * so a code cannot exist on one side only. Each side adds its local codes
 * (the server's startup refusals, the clerk's ABORTED, CLOSED and
 * WRONG_CLUSTER). What each code means for a retry and on the wire is in
 * error-table.ts.
 */
export const API_ERROR_CODES = [
  'NOT_LEADER',
  'NO_LEADER',
  'TIMEOUT',
  'UNAVAILABLE',
  'UNKNOWN_OUTCOME',
  'INVALID_ARGUMENT',
  'KEY_TOO_LARGE',
  'VALUE_TOO_LARGE',
  'NOT_FOUND',
  'SESSION_SEQ_STALE',
  'TOO_MANY_REQUESTS',
  'SHUTTING_DOWN',
  'UNKNOWN_MEMBER',
  'FAILED_PRECONDITION',
  'COMPACTED',
  'FUTURE_REVISION',
  'LEASE_NOT_FOUND',
  'INTERNAL',
] as const;

export type ApiErrorCode = (typeof API_ERROR_CODES)[number];
