/** Command-line options of `npm run bench`; every problem is a one-line UsageError. */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ClerkCarrier } from './cairn-cluster.js';
import { DEFAULT_ETCD_BINARY, etcdAvailable } from './etcd-cluster.js';
import { isWorkloadName, type WorkloadName } from './load.js';

export class UsageError extends Error {
  readonly code = 'USAGE';
}

export interface BenchOptions {
  readonly workloads: readonly WorkloadName[];
  readonly concurrency: readonly number[];
  readonly durationMs: number;
  readonly warmupMs: number;
  /** Unmeasured load after the keys are written and before the first level (JIT and heap warm-up). */
  readonly settleMs: number;
  readonly keys: number;
  readonly valueBytes: number;
  readonly etcd: boolean;
  readonly etcdBinary: string;
  readonly cairn: boolean;
  /** Where to write JSON results; '-' = stdout (the table then goes to stderr). */
  readonly jsonPath: string | undefined;
  /** Set when the Cairn nodes run with --cpu-prof. */
  readonly cpuProfileDir: string | undefined;
  readonly workersPerClerk: number;
  /** How the clerks reach the nodes (default: the raw KV link). */
  readonly clerkCarrier: ClerkCarrier;
  /** RSS mode: key counts at which to read the leader's RSS (ascending). Empty = normal benchmark. */
  readonly rssKeys: readonly number[];
  readonly rssConcurrency: number;
  /** RSS mode: seconds of random overwrites after each load step before the second RSS reading. */
  readonly rssSteadyMs: number;
  readonly serverArgs: readonly string[];
}

export const USAGE = `usage: npm run bench -- [options]

  --workloads put,mix       workloads to run (put: 100% put; mix: 90% linearizable get, 10% put)
  --concurrency 1,16,64,256 closed-loop worker counts, one measured level each
  --duration S              measured seconds per level (default 5)
  --warmup S                unmeasured seconds before each level (default 1)
  --settle S                unmeasured seconds of 1-worker load of the first workload after the keys
                            are written, before the first level, for each system (default 15; 0 = measure cold)
  --keys N                  keys drawn uniformly (default 10000; all are written before the first level)
  --value-bytes N           value size (default 100)
  --etcd / --no-etcd        also run etcd (default: on if the etcd binary exists)
  --etcd-bin PATH           etcd binary (default ${DEFAULT_ETCD_BINARY})
  --no-cairn                skip Cairn (etcd only)
  --json PATH               write results as JSON ('-' = stdout)
  --cpu-prof                run Cairn nodes with --cpu-prof (profiles written when they stop)
  --cpu-prof-dir DIR        where the profiles go (default a new dir under ${tmpdir()})
  --workers-per-clerk N     workers sharing one Clerk (default 16; writesInflightMax = N)
  --clerk-grpc              clerks use the gRPC Pipeline stream instead of the raw KV link
  --clerk-unary             clerks make one unary gRPC call per op (no pipelining), like the etcd client
  --server-arg ARG          extra cairn-server flag (repeat; e.g. --server-arg=--tick-ms --server-arg=50)
  --rss-keys N,N,...        RSS mode: load that many distinct keys and print the leader's RSS at each count
  --rss-concurrency N       concurrent puts while loading in RSS mode (default 256)
  --rss-steady S            seconds of random overwrites of the loaded keys before a second RSS reading (default 20)
  -h, --help
`;

const FLAGS = {
  workloads: { type: 'string', default: 'put,mix' },
  concurrency: { type: 'string', default: '1,16,64,256' },
  duration: { type: 'string', default: '5' },
  warmup: { type: 'string', default: '1' },
  settle: { type: 'string', default: '15' },
  keys: { type: 'string', default: '10000' },
  'value-bytes': { type: 'string', default: '100' },
  etcd: { type: 'boolean' },
  'no-etcd': { type: 'boolean' },
  'etcd-bin': { type: 'string', default: DEFAULT_ETCD_BINARY },
  'no-cairn': { type: 'boolean' },
  json: { type: 'string' },
  'cpu-prof': { type: 'boolean' },
  'cpu-prof-dir': { type: 'string' },
  'workers-per-clerk': { type: 'string', default: '16' },
  'clerk-grpc': { type: 'boolean' },
  'clerk-unary': { type: 'boolean' },
  'server-arg': { type: 'string', multiple: true },
  'rss-keys': { type: 'string' },
  'rss-concurrency': { type: 'string', default: '256' },
  'rss-steady': { type: 'string', default: '20' },
  help: { type: 'boolean', short: 'h' },
} as const;

export type ParsedBenchArgs = { help: true } | { help: false; options: BenchOptions };

export function parseBenchArgs(argv: readonly string[]): ParsedBenchArgs {
  let values;
  try {
    values = parseArgs({ args: [...argv], options: FLAGS, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError((error as Error).message.split('\n')[0] ?? 'invalid arguments');
  }
  if (values.help) return { help: true };
  const workloads = list('workloads', values.workloads).map((name) => {
    if (!isWorkloadName(name)) throw new UsageError(`--workloads: unknown workload '${name}' (put, mix)`);
    return name;
  });
  if (values.etcd && values['no-etcd']) throw new UsageError('--etcd and --no-etcd contradict each other');
  const etcdBinary = values['etcd-bin'];
  if (values.etcd && !etcdAvailable(etcdBinary))
    throw new UsageError(`--etcd: no etcd binary at ${etcdBinary} (apt-get install etcd-server)`);
  const etcd = values['no-etcd'] ? false : etcdAvailable(etcdBinary);
  if (values['clerk-unary'] && values['clerk-grpc']) throw new UsageError('--clerk-unary and --clerk-grpc exclude each other');
  if (values['no-cairn'] && !etcd) throw new UsageError('--no-cairn without etcd leaves nothing to run');
  const rssKeys = values['rss-keys'] === undefined ? [] : list('rss-keys', values['rss-keys']).map((t) => positiveInt('rss-keys', t));
  if (rssKeys.some((count, i) => i > 0 && count <= rssKeys[i - 1]!)) throw new UsageError('--rss-keys must be ascending');
  const cpuProfile = values['cpu-prof'] === true || values['cpu-prof-dir'] !== undefined;
  return {
    help: false,
    options: {
      workloads,
      concurrency: list('concurrency', values.concurrency).map((t) => positiveInt('concurrency', t)),
      durationMs: seconds('duration', values.duration, false),
      warmupMs: seconds('warmup', values.warmup, true),
      settleMs: seconds('settle', values.settle, true),
      keys: positiveInt('keys', values.keys),
      valueBytes: positiveInt('value-bytes', values['value-bytes']),
      etcd,
      etcdBinary,
      cairn: values['no-cairn'] !== true,
      jsonPath: values.json,
      cpuProfileDir: cpuProfile ? (values['cpu-prof-dir'] ?? join(tmpdir(), `cairn-bench-prof-${timestamp()}`)) : undefined,
      workersPerClerk: positiveInt('workers-per-clerk', values['workers-per-clerk']),
      clerkCarrier: values['clerk-unary'] === true ? 'unary' : values['clerk-grpc'] === true ? 'grpc' : 'raw',
      rssKeys,
      rssConcurrency: positiveInt('rss-concurrency', values['rss-concurrency']),
      rssSteadyMs: seconds('rss-steady', values['rss-steady'], true),
      serverArgs: values['server-arg'] ?? [],
    },
  };
}

function list(flag: string, text: string): string[] {
  const items = text
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
  if (items.length === 0) throw new UsageError(`--${flag}: expected a comma-separated list`);
  return items;
}

function positiveInt(flag: string, text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value <= 0) throw new UsageError(`--${flag}: '${text}' is not a positive integer`);
  return value;
}

function seconds(flag: string, text: string, zeroAllowed: boolean): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || (!zeroAllowed && value === 0))
    throw new UsageError(`--${flag}: '${text}' is not a valid number of seconds`);
  return Math.round(value * 1000);
}

function timestamp(): string {
  return new Date().toISOString().replace(/[:.]/g, '-');
}
