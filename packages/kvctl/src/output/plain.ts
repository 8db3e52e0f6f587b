import {
  displayBytes,
  jsonKeyValue,
  layoutTable,
  membersTable,
  statusTable,
  benchLine,
  describeSimpleResult,
  errorsByCodeLine,
} from '../format.js';
import type { ErrorInfo } from '../errors.js';
import { hintForErrorCode } from '../errors.js';
import type { Result } from '../run.js';
import type { KeyValueLike } from '../clerk-like.js';
import { checkResultJson, checkResultText } from '@cairn/linearizability';
import { coordJson } from '../format-coord.js';
import { isCoordResult } from '../run-coord.js';

/** Text for stdout, and optional notes for stderr (kept off stdout so pipes stay clean). */
export interface PlainOutput {
  readonly stdout: string;
  readonly stderr?: string | undefined;
}

/**
 * Plain text for scripts and pipes (stdout not a TTY): no colour, no Ink.
 * `get` prints just the value, so `kvctl get k > file` works.
 */
export function renderPlain(result: Result, options: { verbose: boolean }): PlainOutput {
  switch (result.kind) {
    case 'get':
      if (result.kv === undefined) return { stdout: '', stderr: `not found: ${result.key}\n` };
      return {
        stdout: `${displayBytes(result.kv.value)}\n`,
        stderr: options.verbose ? `${verboseKeyValue(result.kv)}\n` : undefined,
      };
    case 'range': {
      const lines = result.kvs.map((kv) => (result.keysOnly ? displayBytes(kv.key) : `${displayBytes(kv.key)}\t${displayBytes(kv.value)}`));
      const last = result.kvs.at(-1);
      const more =
        result.more && last !== undefined ? `more keys follow; continue with --start-after '${displayBytes(last.key)}'\n` : undefined;
      return { stdout: lines.map((line) => `${line}\n`).join(''), stderr: more };
    }
    case 'status':
      return { stdout: `${layoutTable(statusTable(result.rows))}\n` };
    case 'members':
      return { stdout: `${layoutTable(membersTable(result.members, result.leaderId))}\n` };
    case 'bench': {
      const errors = errorsByCodeLine(result.summary.errorsByCode);
      return { stdout: `${benchLine(result.summary)}\n${errors === '' ? '' : `errors by code: ${errors}\n`}` };
    }
    case 'check':
      if (result.report.result === undefined) break;
      return { stdout: checkResultText(result.report.result, options) };
    default:
      break;
  }
  return { stdout: `${describeSimpleResult(result) ?? result.kind}\n` };
}

/** One JSON document per command (`--output json`, `bench --json`). */
export function renderJson(result: Result): string {
  return `${JSON.stringify(jsonOfResult(result))}\n`;
}

export function jsonOfResult(result: Result): unknown {
  if (isCoordResult(result)) return coordJson(result);
  switch (result.kind) {
    case 'get':
      return result.kv === undefined ? { found: false, key: result.key } : { found: true, ...jsonKeyValue(result.kv) };
    case 'cas':
      return { succeeded: result.succeeded, kv: result.kv === undefined ? null : jsonKeyValue(result.kv) };
    case 'range':
      return { prefix: result.prefix, kvs: result.kvs.map((kv) => jsonKeyValue(kv, result.keysOnly)), more: result.more };
    case 'bench':
      return result.summary;
    case 'status':
      return { members: result.rows };
    case 'members':
      return { action: result.action, leaderId: result.leaderId, members: result.members };
    case 'check':
      return result.report.result === undefined ? result : checkResultJson(result.report.result);
    case 'put':
      return { ok: true, key: result.key, version: result.version ?? null };
    case 'append':
      return { ok: true, key: result.key };
    default:
      return result;
  }
}

/**
 * `error: CODE: message`, one line that scripts can parse; never a stack trace.
 * `withHint` (stderr is a terminal, a person reads it) adds a `hint:` line.
 */
export function renderErrorPlain(info: ErrorInfo, options: { withHint?: boolean } = {}): string {
  const hint = options.withHint === true ? hintForErrorCode(info.code) : undefined;
  return `error: ${info.code}: ${info.message}\n${hint === undefined ? '' : `hint: ${hint}\n`}`;
}

export function renderErrorJson(info: ErrorInfo): string {
  return `${JSON.stringify({ error: { code: info.code, message: info.message, exitCode: info.exitCode } })}\n`;
}

/** `--verbose` detail of a read key: version, revisions (when known), lease, raft indexes. */
export function verboseKeyValue(kv: KeyValueLike): string {
  if (kv.modRevision === undefined) return `version ${kv.version}, created at ${kv.createIndex}, modified at ${kv.modIndex}`;
  const lease = kv.lease ? `, lease ${kv.lease}` : '';
  return `version ${kv.version}, created at revision ${kv.createRevision}, modified at revision ${kv.modRevision}${lease}`;
}
