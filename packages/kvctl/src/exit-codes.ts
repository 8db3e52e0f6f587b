/**
 * Process exit codes of `kvctl`. Scripts branch on these, so they are stable.
 *
 * | code | meaning                                                        | error codes                                   |
 * | ---- | -------------------------------------------------------------- | --------------------------------------------- |
 * | 0    | success                                                        |                                               |
 * | 1    | not found (get/delete of a missing key, a lease); check found a violation | NOT_FOUND, LEASE_NOT_FOUND          |
 * | 2    | usage error (bad flags or arguments)                           | USAGE                                         |
 * | 3    | cluster unreachable, no leader, or timed out; lock/elect session lost | UNAVAILABLE, NO_LEADER, NOT_LEADER, TIMEOUT, SHUTTING_DOWN, WRONG_CLUSTER, SESSION_LOST |
 * | 4    | invalid argument or over a size limit                          | INVALID_ARGUMENT, KEY_TOO_LARGE, VALUE_TOO_LARGE |
 * | 5    | compare-and-swap precondition failed; txn compares failed      | CAS_FAILED                                    |
 * | 6    | unknown outcome: the write may or may not have been applied    | UNKNOWN_OUTCOME                               |
 * | 7    | degraded: `status` printed, but a member is down or there is no leader | (a row whose health is not ok)        |
 * | 8    | the revision asked for is compacted or in the future           | COMPACTED, FUTURE_REVISION                    |
 * | 10   | internal error (anything else)                                 | INTERNAL, NOT_IMPLEMENTED, ...                |
 */
export const EXIT_OK = 0;
export const EXIT_NOT_FOUND = 1;
export const EXIT_USAGE = 2;
export const EXIT_UNAVAILABLE = 3;
export const EXIT_INVALID_ARGUMENT = 4;
export const EXIT_PRECONDITION_FAILED = 5;
export const EXIT_UNKNOWN_OUTCOME = 6;
/** `status` answered, but some member did not (or no leader is known): scripts can alert on it. */
export const EXIT_DEGRADED = 7;
/** `get --rev`, `watch --rev`: the revision is below the compacted one, or above the current one. */
export const EXIT_REVISION = 8;
export const EXIT_INTERNAL = 10;

const EXIT_CODE_BY_ERROR_CODE: Readonly<Record<string, number>> = {
  NOT_FOUND: EXIT_NOT_FOUND,
  LEASE_NOT_FOUND: EXIT_NOT_FOUND,
  COMPACTED: EXIT_REVISION,
  FUTURE_REVISION: EXIT_REVISION,
  USAGE: EXIT_USAGE,
  UNAVAILABLE: EXIT_UNAVAILABLE,
  NO_LEADER: EXIT_UNAVAILABLE,
  // The clerk follows redirects itself; NOT_LEADER reaching us means it gave up.
  NOT_LEADER: EXIT_UNAVAILABLE,
  TIMEOUT: EXIT_UNAVAILABLE,
  DEADLINE_EXCEEDED: EXIT_UNAVAILABLE,
  SHUTTING_DOWN: EXIT_UNAVAILABLE,
  // The endpoints reach another cluster's node, not this one's.
  WRONG_CLUSTER: EXIT_UNAVAILABLE,
  // lock/elect: the session lease ended while held (the cluster was out of reach).
  SESSION_LOST: EXIT_UNAVAILABLE,
  INVALID_ARGUMENT: EXIT_INVALID_ARGUMENT,
  KEY_TOO_LARGE: EXIT_INVALID_ARGUMENT,
  VALUE_TOO_LARGE: EXIT_INVALID_ARGUMENT,
  CAS_FAILED: EXIT_PRECONDITION_FAILED,
  UNKNOWN_OUTCOME: EXIT_UNKNOWN_OUTCOME,
};

/** Maps a stable error code (clerk or kvctl) to the process exit code; unknown codes are internal. */
export function exitCodeForErrorCode(code: string): number {
  return EXIT_CODE_BY_ERROR_CODE[code] ?? EXIT_INTERNAL;
}
