/**
 * Node options: command-line flags, an optional YAML file (`--config`), defaults
 * and validation. Flags override the file. Every problem is a ConfigError with
 * a one-line message naming the flag, never a stack trace.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { HISTORY_BYTES_DEFAULT, HISTORY_REVISIONS_DEFAULT, KEY_BYTES_MAX, VALUE_BYTES_MAX } from './limits.js';
import { isLogLevel, type LogLevel } from './logger.js';
import { ConfigError } from './startup-errors.js';

export interface PeerAddress {
  id: number;
  address: string;
}

export interface NodeOptions {
  /** This node's id (a positive integer, unique in the cluster). */
  id: number;
  /** gRPC listen address (host:port) for peers and clients. Port 0 picks a free port. */
  addr: string;
  /** HTTP listen address (REST API, /metrics, dashboard). @default undefined (no HTTP) */
  clientAddr: string | undefined;
  /** The initial members other than this node (once the data dir exists, each must be one of its members). */
  peers: PeerAddress[];
  dataDir: string;
  /**
   * Names the cluster; with the initial member ids it makes the cluster id
   * (docs/cluster-identity.md). A data dir or peer of another cluster is refused. @default 'cairn'
   */
  clusterId: string;
  /** Start empty and wait to be added by the cluster (no bootstrap). @default false */
  join: boolean;
  /** @default 'info' */
  logLevel: LogLevel;
  /** Length of one raft tick. @default 100 */
  tickMs: number;
  /** @default 10 */
  electionTicks: number;
  /** @default 1 */
  heartbeatTicks: number;
  /**
   * Compact the log after this many applied entries. No snapshot file is
   * written then: one is built only when a follower needs it. @default 10000
   */
  snapshotEntries: number;
  /** @default 4096 */
  keyBytesMax: number;
  /** @default 1048576 */
  valueBytesMax: number;
  /** Linearizable reads and writes fail with TIMEOUT after this long. @default 5000 */
  requestTimeoutMs: number;
  /** Serve InjectFault (drop/delay/partition) on the Cluster service. @default false */
  chaos: boolean;
  /** The leader compacts the history to keep about this many revisions. @default 100000 */
  historyRevisions?: number;
  /** ... and to keep the history's bytes on disk (LevelDB's estimate) under this. @default 268435456 */
  historyBytes?: number;
}

export const DEFAULT_NODE_OPTIONS = {
  clientAddr: undefined,
  peers: [],
  clusterId: 'cairn',
  join: false,
  logLevel: 'info',
  tickMs: 100,
  electionTicks: 10,
  heartbeatTicks: 1,
  snapshotEntries: 10_000,
  keyBytesMax: KEY_BYTES_MAX,
  valueBytesMax: VALUE_BYTES_MAX,
  requestTimeoutMs: 5000,
  chaos: false,
  historyRevisions: HISTORY_REVISIONS_DEFAULT,
  historyBytes: HISTORY_BYTES_DEFAULT,
} as const satisfies Partial<NodeOptions>;

const FLAGS = {
  id: { type: 'string' },
  addr: { type: 'string' },
  'client-addr': { type: 'string' },
  peer: { type: 'string', multiple: true },
  'data-dir': { type: 'string' },
  'cluster-id': { type: 'string' },
  join: { type: 'boolean' },
  config: { type: 'string' },
  'log-level': { type: 'string' },
  'tick-ms': { type: 'string' },
  'election-ticks': { type: 'string' },
  'heartbeat-ticks': { type: 'string' },
  'snapshot-entries': { type: 'string' },
  'key-bytes-max': { type: 'string' },
  'value-bytes-max': { type: 'string' },
  'request-timeout-ms': { type: 'string' },
  chaos: { type: 'boolean' },
  'history-revisions': { type: 'string' },
  'history-bytes': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const USAGE = `usage: cairn-server --id N --addr HOST:PORT --data-dir DIR [options]

  --id N                    node id, a positive integer unique in the cluster
  --addr HOST:PORT          gRPC address for peers and clients (port 0 = any free port)
  --client-addr HOST:PORT   HTTP address: /kv/<key>, /status, /metrics, dashboard
  --peer ID=HOST:PORT       an initial member (repeat for each other member)
  --data-dir DIR            where the log, state and snapshots live
  --cluster-id NAME         cluster name (default cairn); with the initial member ids it makes the
                            cluster id; data dirs and peers of another cluster are refused
  --join                    start empty and wait to be added with 'kvctl member add'
  --config FILE.yaml        read options from a YAML file (keys as the flags; flags win)
  --log-level LEVEL         debug | info | warn | error | silent (default info)
  --tick-ms MS              raft tick length (default 100)
  --election-ticks N        election timeout in ticks (default 10)
  --heartbeat-ticks N       heartbeat interval in ticks (default 1)
  --snapshot-entries N      compact the log after this many applied entries (default 10000)
  --key-bytes-max N         largest key (default 4096)
  --value-bytes-max N       largest value (default 1048576)
  --request-timeout-ms MS   request timeout (default 5000)
  --chaos                   allow fault injection through the Cluster service
  --history-revisions N     revisions of history kept for reads and watches in the past (default 100000)
  --history-bytes N         bytes of history kept at most, as LevelDB estimates them (default 268435456)
`;

export type ParsedArgs = { help: true } | { help: false; options: NodeOptions };

/** Parses argv (without node and script) into validated options. */
export function parseNodeArgs(argv: string[]): ParsedArgs {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: FLAGS, strict: true, allowPositionals: false });
  } catch (error) {
    throw new ConfigError((error as Error).message.split('\n')[0] ?? 'invalid arguments');
  }
  const flags = parsed.values;
  if (flags.help) return { help: true };
  const file = flags.config !== undefined ? readConfigFile(flags.config) : {};
  const pick = (name: keyof typeof FLAGS): unknown => {
    const fromFlag = (flags as Record<string, unknown>)[name];
    return fromFlag !== undefined ? fromFlag : file[name];
  };
  return { help: false, options: buildOptions(pick) };
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`--config: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (error) {
    throw new ConfigError(`--config: ${path} is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value))
    throw new ConfigError(`--config: ${path} must be a mapping of option names to values`);
  const known = new Set(Object.keys(FLAGS));
  for (const key of Object.keys(value)) {
    if (!known.has(key) || key === 'config' || key === 'help') throw new ConfigError(`--config: unknown option '${key}' in ${path}`);
  }
  return value as Record<string, unknown>;
}

function buildOptions(pick: (name: keyof typeof FLAGS) => unknown): NodeOptions {
  const id = positiveInt('id', pick('id'), undefined);
  const addr = address('addr', required('addr', pick('addr')));
  const clientAddrRaw = pick('client-addr');
  const clientAddr = clientAddrRaw === undefined ? undefined : address('client-addr', String(clientAddrRaw));
  const dataDir = String(required('data-dir', pick('data-dir')));
  const logLevel = String(pick('log-level') ?? DEFAULT_NODE_OPTIONS.logLevel);
  if (!isLogLevel(logLevel)) throw new ConfigError(`--log-level: expected debug, info, warn, error or silent, got '${logLevel}'`);
  const clusterId = String(pick('cluster-id') ?? DEFAULT_NODE_OPTIONS.clusterId);
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(clusterId))
    throw new ConfigError(`--cluster-id: use 1-64 letters, digits, '.', '_' or '-', got '${clusterId}'`);
  const peers = parsePeers(pick('peer'), id, addr);
  const options: NodeOptions = {
    id,
    addr,
    clientAddr,
    peers,
    dataDir,
    clusterId,
    join: Boolean(pick('join') ?? false),
    logLevel,
    tickMs: positiveInt('tick-ms', pick('tick-ms'), DEFAULT_NODE_OPTIONS.tickMs),
    electionTicks: positiveInt('election-ticks', pick('election-ticks'), DEFAULT_NODE_OPTIONS.electionTicks),
    heartbeatTicks: positiveInt('heartbeat-ticks', pick('heartbeat-ticks'), DEFAULT_NODE_OPTIONS.heartbeatTicks),
    snapshotEntries: positiveInt('snapshot-entries', pick('snapshot-entries'), DEFAULT_NODE_OPTIONS.snapshotEntries),
    keyBytesMax: positiveInt('key-bytes-max', pick('key-bytes-max'), DEFAULT_NODE_OPTIONS.keyBytesMax),
    valueBytesMax: positiveInt('value-bytes-max', pick('value-bytes-max'), DEFAULT_NODE_OPTIONS.valueBytesMax),
    requestTimeoutMs: positiveInt('request-timeout-ms', pick('request-timeout-ms'), DEFAULT_NODE_OPTIONS.requestTimeoutMs),
    chaos: Boolean(pick('chaos') ?? false),
    historyRevisions: positiveInt('history-revisions', pick('history-revisions'), DEFAULT_NODE_OPTIONS.historyRevisions),
    historyBytes: positiveInt('history-bytes', pick('history-bytes'), DEFAULT_NODE_OPTIONS.historyBytes),
  };
  validateOptions(options);
  return options;
}

/** Checks relationships between options (also used by embedders calling startNode directly). */
export function validateOptions(options: NodeOptions): void {
  if (options.heartbeatTicks >= options.electionTicks) {
    throw new ConfigError(`--heartbeat-ticks (${options.heartbeatTicks}) must be smaller than --election-ticks (${options.electionTicks})`);
  }
  if (options.join && options.peers.length > 0) {
    // A joining node learns its peers from the cluster's replicated membership.
    throw new ConfigError('--join and --peer cannot be combined: a joining node learns the members from the cluster');
  }
}

function required(name: string, value: unknown): unknown {
  if (value === undefined || value === '') throw new ConfigError(`--${name} is required (see --help)`);
  return value;
}

function positiveInt(name: string, value: unknown, fallback: number | undefined): number {
  if (value === undefined) {
    if (fallback === undefined) throw new ConfigError(`--${name} is required (see --help)`);
    return fallback;
  }
  const text = String(value);
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n <= 0) {
    throw new ConfigError(`--${name}: expected a positive integer, got '${text}'`);
  }
  return n;
}

export function address(name: string, value: unknown): string {
  const text = String(value);
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  if (!m || Number(m[2]) > 65535) throw new ConfigError(`--${name}: expected HOST:PORT, got '${text}'`);
  return text;
}

/** A HOST:PORT that address() accepted, split for listen()/connect(): an IPv6 host loses its brackets. */
export function splitHostPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  return { host: address.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(address.slice(colon + 1)) };
}

function parsePeers(value: unknown, selfId: number, selfAddr: string): PeerAddress[] {
  if (value === undefined) return [];
  const items = Array.isArray(value) ? value : [value];
  const peers = new Map<number, string>();
  for (const item of items) {
    const text = String(item);
    const eq = text.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--peer: expected ID=HOST:PORT, got '${text}'`);
    const id = positiveInt('peer', text.slice(0, eq), undefined);
    const addr = address('peer', text.slice(eq + 1));
    if (id === selfId) {
      // Listing yourself is allowed (one shared peer list for every node) if it matches.
      if (addr !== selfAddr) throw new ConfigError(`--peer ${text}: node ${id} is this node, but --addr is ${selfAddr}`);
      continue;
    }
    const known = peers.get(id);
    if (known !== undefined && known !== addr) throw new ConfigError(`--peer: node ${id} is listed twice with different addresses`);
    peers.set(id, addr);
  }
  return [...peers].map(([id, address]) => ({ id, address }));
}
