/**
 * One committed command applied with exactly-once semantics: a command with a
 * session (clientId, seq) is applied only if seq is new; a retry of the last
 * seq gets the stored reply; an older seq gets SessionSeqStaleError. The
 * operation itself is chosen by operations.ts.
 */
import type { Command, CommandResult } from '@cairn/proto';
import { InvalidArgumentError, type KvError, SessionSeqStaleError } from '../errors.js';
import { applyContext, finishCommand } from './apply-command.js';
import type { LeaseTable } from './leases.js';
import { applyAnyOperation } from './operations.js';
import type { PendingBatch } from './pending-batch.js';
import type { AppliedState } from './records.js';
import type { SessionIndex } from './sessions.js';
import type { TxnStore } from './txn.js';

/** What applying needs from the machine, taken afresh for each batch (a restore replaces state and sessions). */
export interface CommandApplyDeps {
  readonly state: AppliedState;
  readonly sessions: SessionIndex;
  readonly leases: LeaseTable;
  readonly valueBytesMax: number;
  readonly store: TxnStore;
  loadKeys(keys: readonly Buffer[], batch: PendingBatch): Promise<void>;
}

type Outcome = CommandResult | KvError;

/**
 * Applies one command. Returns a promise only when a retried write's stored
 * reply has to be read from disk or the command reads keys beyond the
 * prefetched ones (a txn, a lease revoke); every other path is synchronous,
 * because batch-keys.ts loaded every key the batch touches (an async call per
 * command per node was a visible share of the garbage per write).
 */
export function applyCommand(
  deps: CommandApplyDeps,
  index: number,
  decoded: Command | Error,
  batch: PendingBatch,
): Outcome | Promise<Outcome> {
  if (decoded instanceof Error) return new InvalidArgumentError(`entry ${index} does not hold a valid command`);
  const command = decoded;
  deps.state.clockMs = Math.max(deps.state.clockMs, command.proposedAtMs);
  deps.sessions.expire(deps.state, batch);
  const session = command.session;
  if (session === undefined || session.clientId.length === 0) return applyOperation(deps, command, index, batch);
  if (session.seq <= 0) return new InvalidArgumentError('a write session needs seq >= 1');
  const lastSeq = deps.sessions.lastSeq(session.clientId);
  if (lastSeq !== undefined && session.seq <= lastSeq) return applyRetry(deps, session.clientId, session.seq, lastSeq, batch);
  const outcome = applyOperation(deps, command, index, batch);
  if (outcome instanceof Promise) return outcome.then((settled) => touchSession(deps, session, settled, batch));
  return touchSession(deps, session, outcome, batch);
}

function touchSession(deps: CommandApplyDeps, session: NonNullable<Command['session']>, outcome: Outcome, batch: PendingBatch): Outcome {
  // Errors are deterministic and leave no state change, so a retry recomputes the same error.
  if (!(outcome instanceof Error)) deps.sessions.touch(session.clientId, session.seq, outcome, deps.state, batch);
  return outcome;
}

function applyOperation(deps: CommandApplyDeps, command: Command, index: number, batch: PendingBatch): Outcome | Promise<Outcome> {
  const load = (keys: readonly Buffer[]): Promise<void> => deps.loadKeys(keys, batch);
  const ctx = applyContext(command, index, deps.state, batch, deps.valueBytesMax, load, deps.leases);
  const outcome = applyAnyOperation(command, ctx, deps.store);
  if (outcome instanceof Promise) {
    return outcome.then((settled) => {
      finishCommand(ctx);
      return settled;
    });
  }
  finishCommand(ctx);
  return outcome;
}

/** A write whose seq the session has seen: answered from the stored reply (or stale), never applied again. */
async function applyRetry(deps: CommandApplyDeps, clientId: string, seq: number, lastSeq: number, batch: PendingBatch): Promise<Outcome> {
  const stored = await deps.sessions.lastResult(clientId, deps.state.generation, batch);
  deps.sessions.touch(clientId, lastSeq, stored, deps.state, batch);
  return seq < lastSeq ? new SessionSeqStaleError(clientId, seq, lastSeq) : stored;
}
