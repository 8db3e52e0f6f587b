import type { TextTable } from '@cairn/linearizability';
import { jsonBytes } from './json-bytes.js';
import type { Member } from '@cairn/proto';
import type { BenchSnapshot } from './bench.js';
import type { ClerkEvent, KeyValueLike } from './clerk-like.js';
import type { MemberStatusRow, Result } from './run.js';
import { coordText } from './format-coord.js';
import { isCoordResult } from './run-coord.js';

// Tables and bytes are laid out as the checker's report lays them out.
export { displayBytes, layoutTable, type TextTable } from '@cairn/linearizability';

export const LEADER_MARK = '★';

export function jsonKeyValue(kv: KeyValueLike, keysOnly = false): Record<string, unknown> {
  return {
    key: jsonBytes(kv.key),
    ...(keysOnly ? {} : { value: jsonBytes(kv.value) }),
    version: kv.version,
    createIndex: kv.createIndex,
    modIndex: kv.modIndex,
    ...(kv.createRevision !== undefined ? { createRevision: kv.createRevision, modRevision: kv.modRevision, lease: kv.lease ?? 0 } : {}),
  };
}

export function statusTable(rows: readonly MemberStatusRow[]): TextTable {
  return {
    headers: ['ID', 'ADDRESS', 'ROLE', 'TERM', 'COMMIT', 'APPLIED', 'LAG', 'HEALTH'],
    rows: rows.map((row) => [
      `${row.isLeader ? LEADER_MARK : ' '}${row.id}`,
      row.clientAddress || '-',
      (row.role ?? '-') + (row.learner ? ' (learner)' : ''),
      optionalNumber(row.term),
      optionalNumber(row.commitIndex),
      optionalNumber(row.appliedIndex),
      optionalNumber(row.lag),
      row.health,
    ]),
  };
}

export function membersTable(members: readonly Member[], leaderId: number): TextTable {
  return {
    headers: ['ID', 'PEER ADDRESS', 'CLIENT ADDRESS', 'KIND'],
    rows: [...members]
      .sort((a, b) => a.id - b.id)
      .map((member) => [
        `${member.id === leaderId ? LEADER_MARK : ' '}${member.id}`,
        member.peerAddress || '-',
        member.clientAddress || '-',
        member.learner ? 'learner' : 'voter',
      ]),
  };
}

function optionalNumber(value: number | undefined): string {
  return value === undefined ? '-' : String(value);
}

export function formatMs(ms: number): string {
  if (ms >= 100) return `${ms.toFixed(0)}ms`;
  if (ms >= 10) return `${ms.toFixed(1)}ms`;
  return `${ms.toFixed(2)}ms`;
}

/** One-line description of a benchmark state, shared by the plain and live views. */
export function benchLine(snapshot: BenchSnapshot): string {
  const rate = snapshot.done ? snapshot.opsPerSec : snapshot.recentOpsPerSec;
  const { p50, p90, p99, max } = snapshot.latencyMs;
  return (
    `${snapshot.ops} ops (${snapshot.reads} reads, ${snapshot.writes} writes) in ${(snapshot.elapsedMs / 1000).toFixed(1)}s` +
    `  ${rate.toFixed(0)} ops/s  p50 ${formatMs(p50)}  p90 ${formatMs(p90)}  p99 ${formatMs(p99)}  max ${formatMs(max)}` +
    `  errors ${snapshot.errors}`
  );
}

export function errorsByCodeLine(errorsByCode: Readonly<Record<string, number>>): string {
  return Object.entries(errorsByCode)
    .sort((a, b) => b[1] - a[1])
    .map(([code, count]) => `${code}×${count}`)
    .join(' ');
}

/** A short human sentence for results that are not tables (put, delete, cas, ...). */
export function describeSimpleResult(result: Result): string | undefined {
  if (isCoordResult(result)) return coordText(result);
  switch (result.kind) {
    case 'put':
      return result.version === undefined ? 'OK' : `OK (version ${result.version})`;
    case 'append':
      return 'OK';
    case 'delete':
      if (result.count !== undefined)
        return result.count > 0 ? `deleted ${result.count} key${result.count === 1 ? '' : 's'}` : 'nothing deleted';
      return result.deleted ? 'deleted' : 'not found (nothing deleted)';
    case 'cas':
      if (result.succeeded) return result.kv === undefined ? 'OK' : `OK (version ${result.kv.version})`;
      return result.kv === undefined
        ? 'precondition failed: the key does not exist'
        : `precondition failed: current version is ${result.kv.version}`;
    case 'leader-transfer':
      return result.leaderId === undefined ? `leadership transfer to ${result.targetId} requested` : `leader is now ${result.leaderId}`;
    case 'snapshot':
      return `snapshot at index ${result.index}, term ${result.term} (${result.sizeBytes} bytes)`;
    case 'check':
      return result.report.linearizable
        ? `linearizable (${result.report.operations} operations)`
        : `NOT linearizable: ${result.report.detail ?? 'violation found'}`;
    default:
      return undefined;
  }
}

/** `redirect from=127.0.0.1:7001 to=127.0.0.1:7002` */
export function describeClerkEvent(event: ClerkEvent): string {
  const fields = Object.entries(event)
    .filter(([name]) => name !== 'type')
    .map(([name, value]) => `${name}=${Array.isArray(value) ? value.join(',') : String(value)}`);
  return [event.type, ...fields].join(' ');
}
