/** Command-line options of `npm run bench`; every problem is a one-line UsageError. */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_ETCD_BINARY, etcdAvailable } from './etcd-cluster.js';
import { isWorkloadName, type WorkloadName } from './load.js';
import { DEFAULT_PROTOCOLS, isProtocol, PROTOCOLS, type Protocol } from './target.js';

export class UsageError extends Error {
  readonly code = 'USAGE';
}

export interface BenchOptions {
  /** Client protocols to measure, in the order of PROTOCOLS (the table's order). */
  readonly protocols: readonly Protocol[];
  readonly workloads: readonly WorkloadName[];
  readonly concurrency: readonly number[];
  /** Connection counts of the `http` protocol's levels. */
  readonly httpConnections: readonly number[];
  /** Members per cluster (both systems). */
  readonly nodes: number;
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
  /** RSS mode: key counts at which to read the leader's RSS (ascending). Empty = normal benchmark. */
  readonly rssKeys: readonly number[];
  readonly rssConcurrency: number;
  /** RSS mode: seconds of random overwrites after each load step before the second RSS reading. */
  readonly rssSteadyMs: number;
  readonly serverArgs: readonly string[];
}

export const USAGE = `usage: npm run bench -- [options]

  --protocols LIST          client protocols (default ${DEFAULT_PROTOCOLS.join(',')}; also clerk-unary):
                              unary       grpc-js unary calls, proto/ loaded at run time, no write session
                                          (etcd: KV.Put / KV.Range), leader-directed, linearizable reads
                              clerk-grpc  @cairn/clerk over the gRPC Pipeline stream
                              clerk-raw   @cairn/clerk over the raw KV link
                              clerk-unary @cairn/clerk, one unary gRPC call per op
                              http        autocannon: Cairn PUT/GET /kv/<key>; etcd's gateway /v3/kv/put, /v3/kv/range
                            etcd runs unary for unary and the clerk protocols (its only client), http for http
  --workloads put,mix       workloads to run (put: 100% put; mix: 90% linearizable get, 10% put)
  --concurrency 1,16,64,256 closed-loop worker counts, one measured level each
  --http-connections LIST   autocannon connections per http level (default: the --concurrency levels up to 64)
  --nodes N                 members per cluster, both systems (default 3; odd, 1 to 7)
  --duration S              measured seconds per level (default 5)
  --warmup S                unmeasured seconds before each level (default 1)
  --settle S                unmeasured seconds of 1-worker load of the first workload after the keys
                            are written, before each protocol's first level (default 15; 0 = measure cold)
  --keys N                  keys drawn uniformly (default 10000; all are written before the first level)
  --value-bytes N           value size (default 100; e.g. 1024, 16384, 262144)
  --etcd / --no-etcd        also run etcd (default: on if the etcd binary exists)
  --etcd-bin PATH           etcd binary (default ${DEFAULT_ETCD_BINARY})
  --no-cairn                skip Cairn (etcd only)
  --json PATH               write results as JSON ('-' = stdout)
  --cpu-prof                run Cairn nodes with --cpu-prof (profiles written when they stop)
  --cpu-prof-dir DIR        where the profiles go (default a new dir under ${tmpdir()})
  --workers-per-clerk N     workers sharing one Clerk (default 16; writesInflightMax = N)
  --clerk-grpc              the same as --protocols clerk-grpc
  --clerk-unary             the same as --protocols clerk-unary
  --server-arg ARG          extra cairn-server flag (repeat; e.g. --server-arg=--tick-ms --server-arg=50)
  --rss-keys N,N,...        RSS mode: load that many distinct keys and print the leader's RSS at each count
  --rss-concurrency N       concurrent puts while loading in RSS mode (default 256)
  --rss-steady S            seconds of random overwrites of the loaded keys before a second RSS reading (default 20)
  -h, --help
`;

const FLAGS = {
  protocols: { type: 'string' },
  workloads: { type: 'string', default: 'put,mix' },
  concurrency: { type: 'string', default: '1,16,64,256' },
  'http-connections': { type: 'string' },
  nodes: { type: 'string', default: '3' },
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
  const protocols = parseProtocols(values.protocols, values['clerk-grpc'] === true, values['clerk-unary'] === true);
  const concurrency = list('concurrency', values.concurrency).map((t) => positiveInt('concurrency', t));
  const httpConnections =
    values['http-connections'] === undefined
      ? concurrency.filter((c) => c <= HTTP_CONNECTIONS_DEFAULT_MAX)
      : list('http-connections', values['http-connections']).map((t) => positiveInt('http-connections', t));
  if (protocols.includes('http') && httpConnections.length === 0)
    throw new UsageError(`--protocols http: no --concurrency level up to ${HTTP_CONNECTIONS_DEFAULT_MAX}; give --http-connections`);
  const nodes = positiveInt('nodes', values.nodes);
  if (nodes % 2 === 0 || nodes > NODES_MAX) throw new UsageError(`--nodes: '${nodes}' is not an odd number from 1 to ${NODES_MAX}`);
  if (values['no-cairn'] && !etcd) throw new UsageError('--no-cairn without etcd leaves nothing to run');
  const rssKeys = values['rss-keys'] === undefined ? [] : list('rss-keys', values['rss-keys']).map((t) => positiveInt('rss-keys', t));
  if (rssKeys.some((count, i) => i > 0 && count <= rssKeys[i - 1]!)) throw new UsageError('--rss-keys must be ascending');
  const cpuProfile = values['cpu-prof'] === true || values['cpu-prof-dir'] !== undefined;
  return {
    help: false,
    options: {
      protocols,
      workloads,
      concurrency,
      httpConnections,
      nodes,
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
      rssKeys,
      rssConcurrency: positiveInt('rss-concurrency', values['rss-concurrency']),
      rssSteadyMs: seconds('rss-steady', values['rss-steady'], true),
      serverArgs: values['server-arg'] ?? [],
    },
  };
}

/** Connection counts of http levels when --http-connections is not given: the --concurrency levels up to this. */
const HTTP_CONNECTIONS_DEFAULT_MAX = 64;
const NODES_MAX = 7;

/** `--protocols`, or one of its older spellings; deduplicated, in the table's order. */
function parseProtocols(text: string | undefined, clerkGrpc: boolean, clerkUnary: boolean): Protocol[] {
  const aliases = [clerkGrpc ? '--clerk-grpc' : '', clerkUnary ? '--clerk-unary' : '', text !== undefined ? '--protocols' : ''].filter(
    (flag) => flag !== '',
  );
  if (aliases.length > 1) throw new UsageError(`${aliases.join(' and ')} exclude each other`);
  if (clerkGrpc) return ['clerk-grpc'];
  if (clerkUnary) return ['clerk-unary'];
  if (text === undefined) return [...DEFAULT_PROTOCOLS];
  const named = list('protocols', text).map((name) => {
    if (!isProtocol(name)) throw new UsageError(`--protocols: unknown protocol '${name}' (${PROTOCOLS.join(', ')})`);
    return name;
  });
  return PROTOCOLS.filter((p) => named.includes(p));
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
