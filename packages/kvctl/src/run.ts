import { assert, assertNever, type Member, type StatusResponse } from '@cairn/proto';
import { runBench, type BenchDeps, type BenchSnapshot } from './bench.js';
import type { HistoryCheckReport, HistoryChecker } from './checker.js';
import { FILE_HISTORY_CHECKER, exitCodeForCheckReport } from './checker.js';
import type { ClerkLike, KeyValueLike, MemberStatusFetcher } from './clerk-like.js';
import type { Command, ValueSource } from './commands.js';
import { describeError } from './errors.js';
import { EXIT_DEGRADED, EXIT_NOT_FOUND, EXIT_OK, EXIT_PRECONDITION_FAILED } from './exit-codes.js';
import type { LiveCommand } from './coord-commands.js';
import { executeCoord, exitCodeForCoordResult, isCoordResult, type CoordResult } from './run-coord.js';

/** One member's row in `kvctl status`. Fields after `health` are absent when it did not answer. */
export interface MemberStatusRow {
  readonly id: number;
  readonly clientAddress: string;
  readonly learner: boolean;
  readonly isLeader: boolean;
  /** 'ok', or the error code the member answered with (e.g. UNAVAILABLE). */
  readonly health: string;
  readonly role?: string;
  readonly term?: number;
  readonly commitIndex?: number;
  readonly appliedIndex?: number;
  /** Entries behind the leader's commit index (applied index vs. leader commit). */
  readonly lag?: number;
}

/**
 * How long `status` waits for each member besides the contacted one: a dead
 * member must cost a short wait, not the clerk's whole retry deadline.
 */
export const MEMBER_STATUS_DEADLINE_MS = 2000;

/** What a command produced; rendering is someone else's job. */
export type Result =
  | { readonly kind: 'get'; readonly key: string; readonly kv: KeyValueLike | undefined }
  | { readonly kind: 'put'; readonly key: string; readonly version: number | undefined }
  | { readonly kind: 'append'; readonly key: string }
  | { readonly kind: 'delete'; readonly key: string; readonly deleted: boolean; readonly count?: number }
  | { readonly kind: 'cas'; readonly key: string; readonly succeeded: boolean; readonly kv: KeyValueLike | undefined }
  | {
      readonly kind: 'range';
      readonly prefix: string;
      readonly kvs: readonly KeyValueLike[];
      readonly more: boolean;
      readonly keysOnly: boolean;
    }
  | { readonly kind: 'status'; readonly rows: readonly MemberStatusRow[] }
  | {
      readonly kind: 'members';
      readonly action: 'list' | 'add' | 'promote' | 'remove';
      readonly members: readonly Member[];
      readonly leaderId: number;
    }
  | { readonly kind: 'leader-transfer'; readonly targetId: number; readonly leaderId: number | undefined }
  | { readonly kind: 'snapshot'; readonly index: number; readonly term: number; readonly sizeBytes: number }
  | { readonly kind: 'bench'; readonly summary: BenchSnapshot }
  | { readonly kind: 'check'; readonly historyPath: string; readonly report: HistoryCheckReport }
  | CoordResult;

/** Everything execute() needs besides the clerk; all optional so tests pass only what they use. */
export interface ExecuteContext {
  /** Status of one member by client address. @default clerk.status({ endpoint }) */
  readonly memberStatus?: MemberStatusFetcher;
  /** Reads all of stdin, for a value given as `-`. */
  readonly readStdin?: () => Promise<Buffer>;
  /** `--timeout`: also caps how long `status` waits for each member. */
  readonly timeoutMs?: number | undefined;
  readonly checker?: HistoryChecker;
  readonly bench?: BenchDeps;
}

/**
 * Commands execute() runs; `cluster up` is a long-running supervisor and lives
 * in cluster-up.ts, and watch, lock, elect and lease keep-alive in live.ts.
 */
export type ExecutableCommand = Exclude<Command, { kind: 'cluster-up' } | LiveCommand>;

/** Runs one command against the cluster and returns its result. Errors propagate (ClerkError etc.). */
export async function execute(command: ExecutableCommand, clerk: ClerkLike, context: ExecuteContext = {}): Promise<Result> {
  switch (command.kind) {
    case 'get': {
      const revision = command.revision === undefined ? {} : { revision: command.revision };
      return { kind: 'get', key: command.key, kv: await clerk.get(command.key, { consistency: command.consistency, ...revision }) };
    }
    case 'put': {
      const value = await resolveValue(command.value, context);
      const reply = await (command.lease === undefined
        ? clerk.put(command.key, value)
        : clerk.put(command.key, value, { lease: command.lease }));
      return { kind: 'put', key: command.key, version: numberField(reply, 'version') };
    }
    case 'append':
      await clerk.append(command.key, await resolveValue(command.value, context));
      return { kind: 'append', key: command.key };
    case 'delete': {
      if (command.prefix !== true) return { kind: 'delete', key: command.key, deleted: (await clerk.delete(command.key)).deleted };
      const reply = await clerk.delete(command.key, { prefix: true });
      return { kind: 'delete', key: command.key, deleted: reply.deleted, count: reply.count ?? (reply.deleted ? 1 : 0) };
    }
    case 'cas': {
      const expected =
        'expectedValue' in command.expected
          ? { expectedValue: Buffer.from(command.expected.expectedValue) }
          : { expectedVersion: command.expected.expectedVersion };
      const reply = await clerk.cas(command.key, expected, await resolveValue(command.newValue, context));
      return { kind: 'cas', key: command.key, succeeded: reply.succeeded, kv: reply.kv };
    }
    case 'range': {
      const options = { limit: command.limit, startAfter: command.startAfter, keysOnly: command.keysOnly };
      const page = await clerk.range(command.prefix, options);
      return { kind: 'range', prefix: command.prefix, keysOnly: command.keysOnly, kvs: page.kvs, more: page.more };
    }
    case 'status': {
      const deadlineMs = Math.min(context.timeoutMs ?? MEMBER_STATUS_DEADLINE_MS, MEMBER_STATUS_DEADLINE_MS);
      const askMember: MemberStatusFetcher = (endpoint) => clerk.status({ endpoint, deadlineMs });
      return { kind: 'status', rows: await collectStatus(clerk, context.memberStatus ?? askMember) };
    }
    case 'member-list':
    case 'member-add':
    case 'member-promote':
    case 'member-remove':
      return executeMembership(command, clerk);
    case 'leader-transfer': {
      // The clerk answers with the new leader's id (a bare number or `{ leaderId }`).
      const reply = await clerk.transferLeader(command.id);
      return {
        kind: 'leader-transfer',
        targetId: command.id,
        leaderId: typeof reply === 'number' ? reply : numberField(reply, 'leaderId'),
      };
    }
    case 'snapshot': {
      const { index, term, sizeBytes } = await clerk.snapshot();
      return { kind: 'snapshot', index, term, sizeBytes };
    }
    case 'bench': {
      const { kind: _kind, json: _json, ...options } = command;
      return { kind: 'bench', summary: await runBench(clerk, options, context.bench) };
    }
    case 'check': {
      const checker = context.checker ?? FILE_HISTORY_CHECKER;
      return { kind: 'check', historyPath: command.historyPath, report: await checker.check(command.historyPath) };
    }
    case 'txn':
    case 'compact':
    case 'lease-grant':
    case 'lease-revoke':
    case 'lease-ttl':
    case 'lease-list':
      return executeCoord(command, clerk, context.readStdin ?? (() => Promise.resolve(Buffer.alloc(0))));
    default:
      return assertNever(command, 'unhandled command');
  }
}

/**
 * The exit code of a command that ran without throwing: a missing key is 1, a
 * failed compare-and-swap 5, a history that is not linearizable 1, a status
 * with a member down (or no leader) 7.
 */
export function exitCodeForResult(result: Result): number {
  if (isCoordResult(result)) return exitCodeForCoordResult(result);
  switch (result.kind) {
    case 'get':
      return result.kv === undefined ? EXIT_NOT_FOUND : EXIT_OK;
    case 'delete':
      return result.deleted ? EXIT_OK : EXIT_NOT_FOUND;
    case 'cas':
      return result.succeeded ? EXIT_OK : EXIT_PRECONDITION_FAILED;
    case 'check':
      return exitCodeForCheckReport(result.report);
    case 'bench':
      return benchExitCode(result.summary);
    case 'status':
      return isHealthy(result.rows) ? EXIT_OK : EXIT_DEGRADED;
    default:
      return EXIT_OK;
  }
}

/** Every member answered and one of them is the leader. */
export function isHealthy(rows: readonly MemberStatusRow[]): boolean {
  return rows.every((row) => row.health === 'ok') && rows.some((row) => row.isLeader);
}

/** A benchmark where nothing succeeded fails with the exit code of its most common error. */
function benchExitCode(summary: BenchSnapshot): number {
  if (summary.ops > 0 || summary.errors === 0) return EXIT_OK;
  const [code] = Object.entries(summary.errorsByCode).sort((a, b) => b[1] - a[1])[0]!;
  return describeError({ code }).exitCode;
}

async function executeMembership(
  command: Extract<Command, { kind: 'member-list' | 'member-add' | 'member-promote' | 'member-remove' }>,
  clerk: ClerkLike,
): Promise<Result> {
  let action: 'list' | 'add' | 'promote' | 'remove' = 'list';
  let reply: unknown;
  if (command.kind === 'member-add') {
    action = 'add';
    reply = await clerk.addLearner({ id: command.id, peerAddress: command.peerAddress, clientAddress: command.clientAddress });
  } else if (command.kind === 'member-promote') {
    action = 'promote';
    reply = await clerk.promote(command.id);
  } else if (command.kind === 'member-remove') {
    action = 'remove';
    reply = await clerk.removeMember(command.id);
  }
  // A change may answer with the new membership; otherwise ask for it.
  const membership = isMembersReply(reply) ? reply : await clerk.members();
  return { kind: 'members', action, members: membership.members, leaderId: membership.leaderId };
}

function isMembersReply(reply: unknown): reply is { members: Member[]; leaderId: number } {
  return (
    typeof reply === 'object' &&
    reply !== null &&
    Array.isArray((reply as { members?: unknown }).members) &&
    typeof (reply as { leaderId?: unknown }).leaderId === 'number'
  );
}

/**
 * Asks the contacted node for the membership, then every member for its own
 * status in parallel. A member that does not answer gets a row with its error
 * code as health, so one dead node never hides the others.
 */
export async function collectStatus(clerk: ClerkLike, memberStatus: MemberStatusFetcher): Promise<MemberStatusRow[]> {
  const contacted = await clerk.status();
  const members: Member[] =
    contacted.members.length > 0
      ? contacted.members
      : [{ id: contacted.id, peerAddress: '', clientAddress: '', httpAddress: '', learner: false }];
  const answers = await Promise.all(
    members.map(async (member): Promise<StatusResponse | { error: string }> => {
      if (member.id === contacted.id) return contacted;
      try {
        return await memberStatus(member.clientAddress);
      } catch (error) {
        return { error: describeError(error).code };
      }
    }),
  );
  return buildStatusRows(members, answers);
}

/** One row per member from its status answer, or the error code it failed with. */
export function buildStatusRows(
  members: readonly Pick<Member, 'id' | 'clientAddress' | 'learner'>[],
  answers: readonly (StatusResponse | { error: string })[],
): MemberStatusRow[] {
  assert(members.length === answers.length, 'one answer per member');
  const statuses = answers.filter((answer): answer is StatusResponse => !('error' in answer));
  const leaderId = leaderIdOf(statuses);
  const leaderCommit =
    statuses.find((status) => status.id === leaderId)?.commitIndex ?? Math.max(0, ...statuses.map((status) => status.commitIndex));
  return members
    .map((member, position) => {
      const answer = answers[position]!;
      const base = { id: member.id, clientAddress: member.clientAddress, learner: member.learner, isLeader: member.id === leaderId };
      if ('error' in answer) return { ...base, health: answer.error };
      return {
        ...base,
        health: 'ok',
        role: answer.role,
        term: answer.term,
        commitIndex: answer.commitIndex,
        appliedIndex: answer.appliedIndex,
        lag: Math.max(0, leaderCommit - answer.appliedIndex),
      };
    })
    .sort((a, b) => a.id - b.id);
}

/** The leader as seen by the members with the highest term (a stale node may name an old one). */
function leaderIdOf(statuses: readonly StatusResponse[]): number {
  const termMax = Math.max(0, ...statuses.map((status) => status.term));
  const current = statuses.filter((status) => status.term === termMax);
  return current.find((status) => status.role === 'leader')?.id ?? current.find((status) => status.leaderId !== 0)?.leaderId ?? 0;
}

async function resolveValue(source: ValueSource, context: ExecuteContext): Promise<Buffer> {
  if (source.from === 'literal') return Buffer.from(source.text);
  assert(context.readStdin !== undefined, 'a value from stdin needs context.readStdin');
  return context.readStdin();
}

function numberField(reply: unknown, field: string): number | undefined {
  if (typeof reply !== 'object' || reply === null) return undefined;
  const value = (reply as Record<string, unknown>)[field];
  return typeof value === 'number' ? value : undefined;
}
