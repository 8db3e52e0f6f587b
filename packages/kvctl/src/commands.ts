import { Command as CommanderCommand, CommanderError, InvalidArgumentError, Option } from 'commander';
import {
  isAddress,
  parseAddress,
  parseLeaseId,
  parseNonNegativeInteger,
  parsePort,
  parsePositiveInteger,
  parsePositiveNumber,
  parseRatio,
} from './arg-parsers.js';
import { UsageError } from './errors.js';
import { addCoordinationCommands, type CoordCommand, type LiveCommand } from './coord-commands.js';

/** Where a value comes from: the command line, or stdin when the argument is `-`. */
export type ValueSource = { readonly from: 'literal'; readonly text: string } | { readonly from: 'stdin' };

export type OutputFormat = 'table' | 'json';

/** Options every command accepts. */
export interface GlobalOptions {
  readonly endpoints: readonly string[];
  /** `--cluster-id`: every node must name this cluster; undefined = the first node's. */
  readonly clusterId: string | undefined;
  /** Per-request timeout handed to the clerk; undefined = the clerk's default. */
  readonly timeoutMs: number | undefined;
  readonly output: OutputFormat;
  readonly verbose: boolean;
}

export interface BenchCommand {
  readonly kind: 'bench';
  readonly concurrency: number;
  /** Exactly one of durationMs and count is set. */
  readonly durationMs: number | undefined;
  readonly count: number | undefined;
  readonly keys: number;
  readonly valueBytes: number;
  readonly readRatio: number;
  readonly json: boolean;
}

export interface ClusterUpCommand {
  readonly kind: 'cluster-up';
  readonly nodes: number;
  /** gRPC of node N listens on basePort + N - 1, its HTTP on basePort + 100 + N - 1. */
  readonly basePort: number;
  /** As given (may be relative to the working directory). */
  readonly dataDir: string;
  /** Delete the nodes' data under dataDir before starting. */
  readonly fresh: boolean;
  readonly demo: boolean;
}

/** One parsed kvctl command; `kind` names it. No I/O has happened yet. */
export type Command =
  | {
      readonly kind: 'get';
      readonly key: string;
      readonly consistency: 'linearizable' | 'serializable';
      /** `--rev`: read as of this past revision. */
      readonly revision?: number | undefined;
    }
  | { readonly kind: 'put'; readonly key: string; readonly value: ValueSource; readonly lease?: number | undefined }
  | { readonly kind: 'append'; readonly key: string; readonly value: ValueSource }
  | { readonly kind: 'delete'; readonly key: string; readonly prefix?: boolean }
  | {
      readonly kind: 'cas';
      readonly key: string;
      readonly newValue: ValueSource;
      readonly expected: { readonly expectedValue: string } | { readonly expectedVersion: number };
    }
  | {
      readonly kind: 'range';
      readonly prefix: string;
      readonly limit: number | undefined;
      readonly startAfter: string | undefined;
      readonly keysOnly: boolean;
    }
  | { readonly kind: 'status' }
  | { readonly kind: 'member-list' }
  | { readonly kind: 'member-add'; readonly id: number; readonly peerAddress: string; readonly clientAddress: string }
  | { readonly kind: 'member-promote'; readonly id: number }
  | { readonly kind: 'member-remove'; readonly id: number }
  | { readonly kind: 'leader-transfer'; readonly id: number }
  | { readonly kind: 'snapshot' }
  | BenchCommand
  | ClusterUpCommand
  | { readonly kind: 'check'; readonly historyPath: string }
  | CoordCommand
  | LiveCommand;

export type CommandKind = Command['kind'];

/** The outcome of parsing: a command to run, or help text to print. */
export type ParsedArgs =
  | { readonly kind: 'command'; readonly global: GlobalOptions; readonly command: Command }
  /** `isError`: help shown because the input was incomplete (exit 2), not because it was asked for. */
  | { readonly kind: 'help'; readonly text: string; readonly isError: boolean };

export const DEFAULT_ENDPOINTS: readonly string[] = ['127.0.0.1:7001', '127.0.0.1:7002', '127.0.0.1:7003'];
export const ENDPOINTS_ENV = 'CAIRN_ENDPOINTS';
/** Environment variable read when `--cluster-id` is not given. */
export const CLUSTER_ID_ENV = 'CAIRN_CLUSTER_ID';
export const DEFAULT_BENCH_CONCURRENCY = 16;
export const DEFAULT_BENCH_DURATION_S = 10;
export const DEFAULT_BENCH_KEYS = 1000;
export const DEFAULT_BENCH_VALUE_BYTES = 128;
export const DEFAULT_BENCH_READ_RATIO = 0.5;
export const DEFAULT_CLUSTER_NODES = 3;
export const CLUSTER_NODES_MAX = 9;
export const DEFAULT_CLUSTER_BASE_PORT = 7001;
/** HTTP ports sit this far above the gRPC ones (7001 → 7101). */
export const CLUSTER_HTTP_PORT_OFFSET = 100;
export const DEFAULT_CLUSTER_DATA_DIR = './data';

/**
 * Parses the user's arguments (without `node` and the script path) into a Command.
 * Pure: reads only `argv` and `env`, writes nothing. Throws UsageError on bad input.
 */
export function parseArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): ParsedArgs {
  let parsed: { global: GlobalOptions; command: Command } | undefined;
  const help: string[] = [];
  const program = buildProgram(
    env,
    (global, command) => {
      parsed = { global, command };
    },
    help,
  );
  try {
    program.parse([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof UsageError) throw error;
    if (!(error instanceof CommanderError)) throw error;
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') {
      return { kind: 'help', text: help.join(''), isError: false };
    }
    if (error.code === 'commander.help' || error.code === 'commander.executeSubCommandAsync') {
      return { kind: 'help', text: help.join(''), isError: true };
    }
    throw new UsageError(error.message.replace(/^error: /, ''));
  }
  if (parsed === undefined) return { kind: 'help', text: help.join('') || program.helpInformation(), isError: true };
  return { kind: 'command', ...parsed };
}

const EXIT_CODES_HELP = `
Exit codes:
  0  ok                               5  cas or txn compare failed
  1  not found (key, lease); not      6  unknown outcome; check undecided
     linearizable                     7  status: a member down or no leader
  2  usage error                      8  revision compacted or in the future
  3  unavailable, no leader, timeout  10 internal error
  4  invalid argument or too large
`;

type OnParsed = (global: GlobalOptions, command: Command) => void;

function buildProgram(env: Readonly<Record<string, string | undefined>>, onParsed: OnParsed, help: string[]): CommanderCommand {
  const program = new CommanderCommand('kvctl')
    .description('Command-line client for a Cairn cluster')
    .exitOverride()
    .configureOutput({ writeOut: (text) => help.push(text), writeErr: (text) => help.push(text), outputError: () => {} })
    .showSuggestionAfterError(true)
    .option('--endpoints <list>', `comma-separated client addresses (default: $${ENDPOINTS_ENV} or ${DEFAULT_ENDPOINTS.join(',')})`)
    .option(
      '--cluster-id <id>',
      `refuse nodes of any other cluster (default: $${CLUSTER_ID_ENV}, else the first node's; a node's /status shows it)`,
    )
    .option('--timeout <ms>', 'per-request timeout in milliseconds', parsePositiveInteger)
    .addOption(new Option('--output <format>', 'output format').choices(['table', 'json']).default('table'))
    .option('--verbose', 'show more detail (versions, indexes, retries)')
    .addHelpText('after', EXIT_CODES_HELP);

  // Commander calls actions with (args..., options, command); each handler builds
  // its Command from the positional arguments (already converted by their
  // argument parsers) and its own options.
  const on: On =
    (build) =>
    (...actionArgs: unknown[]): void => {
      const self = actionArgs.at(-1) as CommanderCommand;
      const options = actionArgs.at(-2) as Record<string, unknown>;
      const positional = actionArgs.slice(0, -2) as string[];
      onParsed(globalOptionsOf(self.optsWithGlobals(), env), build(positional, options));
    };

  addKeyValueCommands(program, on);
  addClusterCommands(program, on);
  addCoordinationCommands(program, on);
  addToolCommands(program, on);
  return program;
}

type On = (build: (args: string[], options: Record<string, unknown>) => Command) => (...args: unknown[]) => void;

function addKeyValueCommands(program: CommanderCommand, on: On): void {
  program
    .command('get')
    .description('read a key (linearizable unless --serializable)')
    .argument('<key>')
    .option('--serializable', 'read from the contacted node without a quorum check (may be stale)')
    .option('--rev <n>', 'read the key as of this past revision (below the compacted one: COMPACTED, exit 8)', parsePositiveInteger)
    .action(
      on(([key], options) => ({
        kind: 'get',
        key: key!,
        consistency: options['serializable'] ? 'serializable' : 'linearizable',
        ...(options['rev'] !== undefined ? { revision: options['rev'] as number } : {}),
      })),
    );
  program
    .command('put')
    .description('write a value (`-` reads the value from stdin)')
    .argument('<key>')
    .argument('<value>')
    .option('--lease <id>', 'attach the key to this lease (it is deleted when the lease ends)', parseLeaseId)
    .action(
      on(([key, value], options) => ({
        kind: 'put',
        key: key!,
        value: valueSource(value!),
        ...(options['lease'] !== undefined ? { lease: options['lease'] as number } : {}),
      })),
    );
  program
    .command('append')
    .description('append to a value (`-` reads the suffix from stdin)')
    .argument('<key>')
    .argument('<value>')
    .action(on(([key, value]) => ({ kind: 'append', key: key!, value: valueSource(value!) })));
  program
    .command('delete')
    .alias('del')
    .description('delete a key (or, with --prefix, every key starting with it, in one revision)')
    .argument('<key>')
    .option('--prefix', 'delete every key starting with <key>')
    .action(on(([key], options) => ({ kind: 'delete', key: key!, ...(options['prefix'] === true ? { prefix: true } : {}) })));
  program
    .command('cas')
    .description('compare-and-swap: write <new> only if the value or version matches')
    .argument('<key>')
    .argument('<new>')
    .option('--expect-value <value>', 'the current value must equal this')
    .option('--expect-version <n>', 'the current version must equal this (0 = key absent)', parseNonNegativeInteger)
    .action(
      on(([key, newValue], options) => ({ kind: 'cas', key: key!, newValue: valueSource(newValue!), expected: casExpectation(options) })),
    );
  program
    .command('range')
    .description('list keys with a prefix, in key order')
    .argument('<prefix>')
    .option('--limit <n>', 'at most this many keys', parsePositiveInteger)
    .option('--start-after <key>', 'continue after this key (paging)')
    .option('--keys-only', 'print keys without values')
    .action(
      on(([prefix], options) => ({
        kind: 'range',
        prefix: prefix!,
        limit: options['limit'] as number | undefined,
        startAfter: options['startAfter'] as string | undefined,
        keysOnly: options['keysOnly'] === true,
      })),
    );
}

function addClusterCommands(program: CommanderCommand, on: On): void {
  program
    .command('status')
    .description('status of every member: role, term, commit, applied, lag, health')
    .action(on(() => ({ kind: 'status' })));
  const member = program.command('member').description('list and change cluster membership');
  member
    .command('list')
    .description('list members')
    .action(on(() => ({ kind: 'member-list' })));
  member
    .command('add')
    .description('add a member as a learner (promote it once caught up)')
    .argument('<id>', 'member id', parsePositiveInteger)
    .argument('<peerAddr>', 'raft peer address host:port', parseAddress)
    .argument('<clientAddr>', 'client address host:port', parseAddress)
    .action(
      on((args) => {
        const [id, peerAddress, clientAddress] = args as unknown as [number, string, string];
        return { kind: 'member-add', id, peerAddress, clientAddress };
      }),
    );
  member
    .command('promote')
    .description('promote a learner to voter')
    .argument('<id>', 'member id', parsePositiveInteger)
    .action(on((args) => ({ kind: 'member-promote', id: args[0] as unknown as number })));
  member
    .command('remove')
    .description('remove a member')
    .argument('<id>', 'member id', parsePositiveInteger)
    .action(on((args) => ({ kind: 'member-remove', id: args[0] as unknown as number })));
  const leader = program.command('leader').description('leadership operations');
  leader
    .command('transfer')
    .description('hand leadership to another voter')
    .argument('<id>', 'member id', parsePositiveInteger)
    .action(on((args) => ({ kind: 'leader-transfer', id: args[0] as unknown as number })));
  program
    .command('snapshot')
    .description('ask the leader to take a snapshot now')
    .action(on(() => ({ kind: 'snapshot' })));
}

function addToolCommands(program: CommanderCommand, on: On): void {
  program
    .command('bench')
    .description('closed-loop load generator: ops/s and latency percentiles')
    .option('--concurrency <n>', 'requests in flight', parsePositiveInteger, DEFAULT_BENCH_CONCURRENCY)
    .option('--duration <s>', `run for this many seconds (default ${DEFAULT_BENCH_DURATION_S})`, parsePositiveNumber)
    .option('--count <n>', 'run exactly this many operations instead of a duration', parsePositiveInteger)
    .option('--keys <n>', 'size of the key space', parsePositiveInteger, DEFAULT_BENCH_KEYS)
    .option('--value-size <bytes>', 'bytes per written value', parseNonNegativeInteger, DEFAULT_BENCH_VALUE_BYTES)
    .option('--read-ratio <r>', 'fraction of operations that are linearizable reads, 0..1', parseRatio, DEFAULT_BENCH_READ_RATIO)
    .option('--json', 'print one JSON summary')
    .action(on((_args, options) => benchCommand(options)));
  const cluster = program.command('cluster').description('local clusters for development');
  cluster
    .command('up')
    .description('start N local cairn-server processes and show their status')
    .option('--nodes <n>', `number of nodes, 1..${CLUSTER_NODES_MAX}`, parseNodeCount, DEFAULT_CLUSTER_NODES)
    .option(
      '--base-port <port>',
      `gRPC port of node 1; node N uses port+N-1, its HTTP port+${CLUSTER_HTTP_PORT_OFFSET}+N-1`,
      parsePort,
      DEFAULT_CLUSTER_BASE_PORT,
    )
    .option('--data-dir <dir>', 'data and logs of the nodes (node-N/, node-N.log)', DEFAULT_CLUSTER_DATA_DIR)
    .option('--fresh', "delete the nodes' data first (a new cluster)")
    .option(
      '--demo',
      'run the live demo instead (5 nodes, workloads, leader preemption, membership changes, faults, linearizability verdict; same as npm start)',
    )
    .action(on((_args, options) => clusterUpCommand(options)));
  program
    .command('check')
    .description('check a recorded history for linearizability')
    .argument('<history.jsonl>')
    .action(on(([historyPath]) => ({ kind: 'check', historyPath: historyPath! })));
}

function benchCommand(options: Record<string, unknown>): BenchCommand {
  const durationS = options['duration'] as number | undefined;
  const count = options['count'] as number | undefined;
  if (durationS !== undefined && count !== undefined) throw new UsageError('bench: pass --duration or --count, not both');
  return {
    kind: 'bench',
    concurrency: options['concurrency'] as number,
    durationMs: count === undefined ? Math.round((durationS ?? DEFAULT_BENCH_DURATION_S) * 1000) : undefined,
    count,
    keys: options['keys'] as number,
    valueBytes: options['valueSize'] as number,
    readRatio: options['readRatio'] as number,
    json: options['json'] === true,
  };
}

function clusterUpCommand(options: Record<string, unknown>): ClusterUpCommand {
  const nodes = options['nodes'] as number;
  const basePort = options['basePort'] as number;
  const highestPort = basePort + CLUSTER_HTTP_PORT_OFFSET + nodes - 1;
  if (highestPort > 65_535)
    throw new UsageError(`cluster up: --base-port ${basePort} with ${nodes} nodes needs port ${highestPort}, above 65535`);
  const dataDir = options['dataDir'] as string;
  if (dataDir.trim() === '') throw new UsageError('cluster up: --data-dir must not be empty');
  return { kind: 'cluster-up', nodes, basePort, dataDir, fresh: options['fresh'] === true, demo: options['demo'] === true };
}

function casExpectation(options: Record<string, unknown>): { expectedValue: string } | { expectedVersion: number } {
  const expectedValue = options['expectValue'] as string | undefined;
  const expectedVersion = options['expectVersion'] as number | undefined;
  if (expectedValue !== undefined && expectedVersion !== undefined) {
    throw new UsageError('cas: pass --expect-value or --expect-version, not both');
  }
  if (expectedValue !== undefined) return { expectedValue };
  if (expectedVersion !== undefined) return { expectedVersion };
  throw new UsageError('cas: one of --expect-value or --expect-version is required');
}

function valueSource(argument: string): ValueSource {
  return argument === '-' ? { from: 'stdin' } : { from: 'literal', text: argument };
}

function globalOptionsOf(options: Record<string, unknown>, env: Readonly<Record<string, string | undefined>>): GlobalOptions {
  const fromFlag = options['endpoints'] as string | undefined;
  const fromEnv = env[ENDPOINTS_ENV]?.trim() || undefined;
  const endpoints = fromFlag ?? fromEnv;
  const clusterId = (options['clusterId'] as string | undefined) ?? (env[CLUSTER_ID_ENV]?.trim() || undefined);
  if (clusterId !== undefined && clusterId.trim() === '') throw new UsageError('--cluster-id must not be empty');
  return {
    endpoints:
      endpoints === undefined ? DEFAULT_ENDPOINTS : parseEndpointList(endpoints, fromFlag !== undefined ? '--endpoints' : ENDPOINTS_ENV),
    clusterId,
    timeoutMs: options['timeout'] as number | undefined,
    output: options['output'] as OutputFormat,
    verbose: options['verbose'] === true,
  };
}

/** Splits `a,b,c` into host:port addresses; empty items are an error, not silently dropped. */
export function parseEndpointList(list: string, source: string): string[] {
  const endpoints = list.split(',').map((item) => item.trim());
  for (const endpoint of endpoints) {
    if (!isAddress(endpoint)) throw new UsageError(`${source}: '${endpoint}' is not a host:port address`);
  }
  return endpoints;
}

function parseNodeCount(text: string): number {
  const value = parsePositiveInteger(text);
  if (value > CLUSTER_NODES_MAX) throw new InvalidArgumentError(`must be at most ${CLUSTER_NODES_MAX}.`);
  return value;
}
