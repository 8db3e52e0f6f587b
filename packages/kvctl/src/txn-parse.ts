/**
 * `kvctl txn` input: a small JSON document or an etcdctl-like text form, both
 * parsed into one plain TxnInput (no clerk types, so this stays a pure unit).
 * The text form is three blocks separated by a blank line: compares, the ops
 * run when every compare holds, the ops run otherwise (TXN_HELP shows it).
 */
import { UsageError } from './errors.js';

export type CompareTarget = 'value' | 'version' | 'create' | 'mod' | 'lease';
export type CompareOperator = '=' | '!=' | '<' | '>';

export interface TxnCompareInput {
  readonly key: string;
  readonly target: CompareTarget;
  readonly op: CompareOperator;
  /** A string for `value`, a non-negative integer otherwise. */
  readonly operand: string | number;
}

export type TxnOpInput =
  | { readonly op: 'put'; readonly key: string; readonly value: string; readonly lease?: number }
  | { readonly op: 'get'; readonly key: string }
  | { readonly op: 'range'; readonly prefix: string }
  | { readonly op: 'delete'; readonly key: string; readonly prefix: boolean };

export interface TxnInput {
  readonly compare: readonly TxnCompareInput[];
  readonly success: readonly TxnOpInput[];
  readonly failure: readonly TxnOpInput[];
}

export const TXN_HELP = `
Reads one transaction from stdin, in either form.

Text form (like etcdctl txn): compares, a blank line, the ops run when every
compare holds, a blank line, the ops run otherwise. Keys and values may be
"double quoted" (JSON escapes) and must be when they hold spaces.
  compare:  value("k") = "v"   version("k") > 0   create("k") = 0
            mod("k") < 42      lease("k") != 0    (operators: = != < >)
  ops:      put k v [--lease=ID]   get k   get prefix --prefix
            del k   del prefix --prefix

  $ printf 'mod("cfg") = 5\\n\\nput cfg v2\\n\\nget cfg\\n' | kvctl txn

JSON form (the same, as one document):
  {"compare": [{"key": "cfg", "target": "mod", "op": "=", "operand": 5}],
   "success": [{"op": "put", "key": "cfg", "value": "v2"}],
   "failure": [{"op": "get", "key": "cfg"}]}
  ops: {"op": "put", "key", "value", "lease"?} {"op": "get", "key"}
       {"op": "range", "prefix"} {"op": "delete", "key", "prefix"?}

Prints SUCCESS or FAILURE, then each op's result. Exit 0 when the compares
held, 5 when they did not (the failure ops ran).
`;

const TARGETS: Readonly<Record<string, CompareTarget>> = {
  value: 'value',
  version: 'version',
  ver: 'version',
  create: 'create',
  c: 'create',
  mod: 'mod',
  m: 'mod',
  lease: 'lease',
};
const OPERATORS: ReadonlySet<string> = new Set(['=', '!=', '<', '>']);

/** JSON when the input starts with `{`, else the text form. Throws UsageError naming what is wrong. */
export function parseTxn(input: string): TxnInput {
  return input.trimStart().startsWith('{') ? parseTxnJson(input) : parseTxnText(input);
}

export function parseTxnText(input: string): TxnInput {
  const blocks: string[][] = [[]];
  const lines = input.replace(/\r\n/g, '\n').replace(/\n+$/, '').split('\n');
  lines.forEach((line, index) => {
    if (line.trim() === '') {
      blocks.push([]);
      if (blocks.length > 3) throw txnError(index + 1, 'more than three blocks (compares, success ops, failure ops)');
      return;
    }
    blocks.at(-1)!.push(`${index + 1}\u0000${line}`);
  });
  const numbered = (block: string[] | undefined) => (block ?? []).map((entry) => entry.split('\u0000') as [string, string]);
  return {
    compare: numbered(blocks[0]).map(([line, text]) => parseCompareLine(text, Number(line))),
    success: numbered(blocks[1]).map(([line, text]) => parseOpLine(text, Number(line))),
    failure: numbered(blocks[2]).map(([line, text]) => parseOpLine(text, Number(line))),
  };
}

function parseCompareLine(text: string, line: number): TxnCompareInput {
  const match = /^\s*([a-z]+)\s*\(\s*("(?:[^"\\]|\\.)*"|[^)\s]+)\s*\)\s*(!=|=|<|>)\s*([^=!<>\s].*?)\s*$/.exec(text);
  if (match === null) throw txnError(line, `not a compare: ${text.trim()} (e.g. mod("k") = "5")`);
  const target = TARGETS[match[1]!];
  if (target === undefined) throw txnError(line, `unknown compare target ${match[1]} (value, version, create, mod, lease)`);
  const key = unquote(match[2]!, line);
  const operand = unquote(match[4]!, line);
  return { key, target, op: match[3] as CompareOperator, operand: target === 'value' ? operand : counter(operand, line) };
}

function parseOpLine(text: string, line: number): TxnOpInput {
  const words = tokenize(text, line);
  const flags = words.filter((word) => word.startsWith('--'));
  const args = words.filter((word) => !word.startsWith('--'));
  const prefix = flags.includes('--prefix');
  const leaseFlag = flags.find((flag) => flag.startsWith('--lease='));
  const unknown = flags.filter((flag) => flag !== '--prefix' && flag !== leaseFlag);
  if (unknown.length > 0) throw txnError(line, `unknown flag ${unknown[0]}`);
  const [verb, key, ...rest] = args;
  const arity = (count: number): void => {
    if (args.length !== count) throw txnError(line, `${verb} takes ${count - 1} argument${count === 2 ? '' : 's'}: ${text.trim()}`);
  };
  switch (verb) {
    case 'put': {
      arity(3);
      if (prefix) throw txnError(line, 'put takes no --prefix');
      const lease = leaseFlag === undefined ? {} : { lease: counter(leaseFlag.slice('--lease='.length), line) };
      return { op: 'put', key: key!, value: rest[0]!, ...lease };
    }
    case 'get':
      arity(2);
      return prefix ? { op: 'range', prefix: key! } : { op: 'get', key: key! };
    case 'del':
    case 'delete':
      arity(2);
      return { op: 'delete', key: key!, prefix };
    default:
      throw txnError(line, `unknown op ${verb ?? ''} (put, get, del)`);
  }
}

/** Words separated by spaces; "double quoted" words use JSON escapes. */
function tokenize(text: string, line: number): string[] {
  const words: string[] = [];
  const pattern = /\s*("(?:[^"\\]|\\.)*"|\S+)/gy;
  for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) words.push(unquote(match[1]!, line));
  return words;
}

function unquote(word: string, line: number): string {
  if (!word.startsWith('"')) return word;
  try {
    return JSON.parse(word) as string;
  } catch {
    throw txnError(line, `bad quoted string ${word}`);
  }
}

function counter(text: string | number, line: number): number {
  const value = typeof text === 'number' ? text : /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < 0) throw txnError(line, `${String(text)} is not a non-negative integer`);
  return value;
}

function txnError(line: number | undefined, message: string): UsageError {
  return new UsageError(`txn: ${line === undefined ? '' : `line ${line}: `}${message}`);
}

export function parseTxnJson(input: string): TxnInput {
  let document: unknown;
  try {
    document = JSON.parse(input);
  } catch (error) {
    throw txnError(undefined, `not valid JSON: ${(error as Error).message}`);
  }
  const object = document as Record<string, unknown>;
  const list = (name: string): unknown[] => {
    const value = object[name] ?? [];
    if (!Array.isArray(value)) throw txnError(undefined, `${name} must be a list`);
    return value;
  };
  return {
    compare: list('compare').map((item, index) => jsonCompare(item, `compare[${index}]`)),
    success: list('success').map((item, index) => jsonOp(item, `success[${index}]`)),
    failure: list('failure').map((item, index) => jsonOp(item, `failure[${index}]`)),
  };
}

function jsonCompare(item: unknown, where: string): TxnCompareInput {
  const c = item as Record<string, unknown>;
  const target = TARGETS[String(c['target'])];
  if (typeof c['key'] !== 'string' || target === undefined || !OPERATORS.has(String(c['op']))) {
    throw txnError(undefined, `${where} needs key, target (value, version, create, mod, lease) and op (= != < >)`);
  }
  const operand = c['operand'];
  if (target === 'value' ? typeof operand !== 'string' : !Number.isSafeInteger(operand) || (operand as number) < 0) {
    throw txnError(undefined, `${where}.operand must be ${target === 'value' ? 'a string' : 'a non-negative integer'}`);
  }
  return { key: c['key'], target, op: c['op'] as CompareOperator, operand: operand as string | number };
}

function jsonOp(item: unknown, where: string): TxnOpInput {
  const o = item as Record<string, unknown>;
  const text = (name: string): string => {
    if (typeof o[name] !== 'string') throw txnError(undefined, `${where}.${name} must be a string`);
    return o[name];
  };
  switch (o['op']) {
    case 'put': {
      const lease = o['lease'];
      if (lease !== undefined && !(Number.isSafeInteger(lease) && (lease as number) > 0)) {
        throw txnError(undefined, `${where}.lease must be a lease id`);
      }
      return { op: 'put', key: text('key'), value: text('value'), ...(lease === undefined ? {} : { lease: lease as number }) };
    }
    case 'get':
      return { op: 'get', key: text('key') };
    case 'range':
      return { op: 'range', prefix: text('prefix') };
    case 'delete':
    case 'del':
      return { op: 'delete', key: text('key'), prefix: o['prefix'] === true };
    default:
      throw txnError(undefined, `${where}.op must be put, get, range or delete`);
  }
}
