/**
 * Command-line options of the demo runner. Every problem is a DemoUsageError
 * with a one-line message naming the flag.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

export class DemoUsageError extends Error {
  readonly code = 'DEMO_USAGE';
  constructor(message: string) {
    super(message);
    this.name = 'DemoUsageError';
  }
}

export interface DemoOptions {
  /** Voters started at boot. @default 5 */
  readonly nodes: number;
  /** gRPC ports are base..base+N (the spare node takes base+N), HTTP ports base+1000...; 0 = OS-assigned. @default 7001 */
  readonly basePort: number;
  /** Root of node data dirs, logs and the history file. @default ./data/demo */
  readonly dataDir: string;
  /** Stop by itself after this many seconds; undefined = until Ctrl-C. */
  readonly durationS: number | undefined;
  /** Concurrent clerks doing KV operations. @default 4 */
  readonly clerks: number;
  /** Distinct keys in use at a time. @default 4 */
  readonly keys: number;
  readonly faults: boolean;
  readonly transfers: boolean;
  readonly membership: boolean;
  /** Raft tick of every node. @default 50 */
  readonly tickMs: number;
  /** Log every clerk operation, not only a periodic summary. */
  readonly verbose: boolean;
  /** Also write the final summary as JSON to this file (tests read it). */
  readonly summaryFile: string | undefined;
}

export const DEMO_USAGE = `usage: demo [options]   (npm start, or node --conditions=@cairn/source --import tsx tools/demo/main.ts)

  --nodes N          voters at boot, 3-7 (default 5)
  --base-port P      gRPC on P.., HTTP on P+1000.. (default 7001; 0 = any free ports)
  --data-dir DIR     node data, logs and history.jsonl (default ./data/demo; wiped at start)
  --duration S       stop after S seconds (default: run until Ctrl-C)
  --clerks N         concurrent clients (default 4)
  --keys N           keys in use at a time (default 4)
  --no-faults        no injected partitions, drops or delays
  --no-transfers     no leader preemption
  --no-membership    no learner add / promote / remove cycle
  --tick-ms MS       raft tick (default 50)
  --verbose          log every client operation
  --summary-file F   write the final summary as JSON to F
`;

const FLAGS = {
  nodes: { type: 'string' },
  'base-port': { type: 'string' },
  'data-dir': { type: 'string' },
  duration: { type: 'string' },
  clerks: { type: 'string' },
  keys: { type: 'string' },
  'no-faults': { type: 'boolean' },
  'no-transfers': { type: 'boolean' },
  'no-membership': { type: 'boolean' },
  'tick-ms': { type: 'string' },
  verbose: { type: 'boolean' },
  'summary-file': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export type ParsedDemoArgs = { help: true } | { help: false; options: DemoOptions };

export function parseDemoArgs(argv: readonly string[], cwd: string): ParsedDemoArgs {
  let values;
  try {
    values = parseArgs({ args: [...argv], options: FLAGS, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new DemoUsageError((error as Error).message);
  }
  if (values.help) return { help: true };
  const basePort = integer('--base-port', values['base-port'], 7001, 0, 64_000);
  if (basePort !== 0 && basePort < 1024) throw new DemoUsageError('--base-port must be 0 or 1024-64000');
  return {
    help: false,
    options: {
      nodes: integer('--nodes', values.nodes, 5, 3, 7),
      basePort,
      dataDir: resolve(cwd, values['data-dir'] ?? 'data/demo'),
      durationS: values.duration === undefined ? undefined : integer('--duration', values.duration, 0, 1, 86_400),
      clerks: integer('--clerks', values.clerks, 4, 1, 32),
      keys: integer('--keys', values.keys, 4, 1, 1000),
      faults: values['no-faults'] !== true,
      transfers: values['no-transfers'] !== true,
      membership: values['no-membership'] !== true,
      tickMs: integer('--tick-ms', values['tick-ms'], 50, 10, 1000),
      verbose: values.verbose === true,
      summaryFile: values['summary-file'] === undefined ? undefined : resolve(cwd, values['summary-file']),
    },
  };
}

function integer(flag: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max)
    throw new DemoUsageError(`${flag} must be an integer in ${min}-${max}, got '${text}'`);
  return value;
}
