/**
 * `npm run bench`: throughput, latency and server CPU per op of Cairn against
 * etcd, both as fresh N-node clusters on this machine, for each client
 * protocol (unary gRPC, the Clerk's carriers, HTTP), driven by closed-loop load
 * generators in this process; or, with --rss-keys, the leader's memory as keys are loaded.
 * See tools/bench/README.md. Teardown (child processes, temp dirs) runs on
 * success, on error and on Ctrl-C; a second Ctrl-C kills everything at once.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { setMaxListeners } from 'node:events';
import { cpus, loadavg } from 'node:os';
import { parseBenchArgs, USAGE, UsageError, type BenchOptions } from './bench/args.js';
import { Teardown } from './bench/processes.js';
import { serverCommandLine } from '@cairn/kv-server/launch';
import { formatResults, formatRss, ratios, type RssSample } from './bench/report.js';
import { protocolsOf, runBenchmark, type SystemRun } from './bench/run-benchmark.js';
import { runRss } from './bench/run-rss.js';
import { PROTOCOL_DESCRIPTIONS, PROTOCOLS, type Protocol, type SystemName } from './bench/target.js';

const EXIT_FAILED = 1;
const EXIT_USAGE = 2;
const EXIT_INTERRUPTED = 130;

const NOTES = [
  'servers and load generator share this machine (loopback network; a shared, noisy host: compare runs made back to back)',
  'the load generator is this one Node process (one event loop: grpc-js, the Clerk, autocannon): at high concurrency it can be the ceiling for both systems; see gen cpu% (100 = saturated)',
  'closed loop: each worker (an HTTP connection for http) awaits its operation before the next; ops/s counts operations completed in the measured window',
  `fsync on for both (Cairn always; etcd default); Cairn nodes run as launchNode starts them: ${cairnEntry()}`,
  'cpu% columns cover warm-up plus measured window, in % of one core; srv µs/op: CPU time of all members together over the measured window ÷ ops',
  '÷etcd: Cairn ÷ etcd at the same workload and concurrency; unary and clerk-* rows against etcd unary (its only client), http against etcd http (ops/s above 1 = Cairn faster; latency and µs/op above 1 = Cairn slower, costlier)',
];

/** How the Cairn nodes run (TypeScript through tsx, or the build), as the launcher says. */
function cairnEntry(): string {
  try {
    const { args } = serverCommandLine({ args: [] });
    return args.some((a) => a.includes('tsx')) ? 'TypeScript sources through tsx' : `built JavaScript (${args.at(-1) ?? '?'})`;
  } catch (error) {
    return `unknown (${(error as Error).message})`;
  }
}

function main(argv: string[]): Promise<number> {
  let options: BenchOptions;
  try {
    const parsed = parseBenchArgs(argv);
    if (parsed.help) {
      process.stdout.write(USAGE);
      return Promise.resolve(0);
    }
    options = parsed.options;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`bench: ${error.message} (see npm run bench -- --help)\n`);
    return Promise.resolve(EXIT_USAGE);
  }
  return runWithTeardown(options, argv);
}

async function runWithTeardown(options: BenchOptions, argv: string[]): Promise<number> {
  const teardown = new Teardown();
  const abort = new AbortController();
  const onSignal = (signal: string): void => {
    if (abort.signal.aborted) {
      process.stderr.write(`bench: second ${signal}: killing every child process now\n`);
      teardown.killAllNow();
      process.exit(EXIT_INTERRUPTED);
    }
    process.stderr.write(`bench: ${signal}: stopping (operations in flight finish, clusters are stopped)\n`);
    abort.abort();
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('exit', () => teardown.killAllNow());
  const log = (line: string): void => void process.stderr.write(`[${clock()}] ${line}\n`);
  const out = options.jsonPath === '-' ? process.stderr : process.stdout;
  try {
    await runAndReport({ options, teardown, signal: abort.signal, log }, out, argv);
    return abort.signal.aborted ? EXIT_INTERRUPTED : 0;
  } catch (error) {
    process.stderr.write(`bench: error: ${(error as Error).message}\n`);
    return EXIT_FAILED;
  } finally {
    await teardown.runAll();
  }
}

async function runAndReport(context: Parameters<typeof runBenchmark>[0], out: NodeJS.WritableStream, argv: string[]): Promise<void> {
  const { options } = context;
  const systems: SystemName[] = [...(options.cairn ? ['cairn' as const] : []), ...(options.etcd ? ['etcd' as const] : [])];
  const startedAt = new Date().toISOString();
  const loadAverageAtStart = loadavg();
  out.write(header(options, systems, argv));
  if (options.cpuProfileDir !== undefined) mkdirSync(options.cpuProfileDir, { recursive: true });
  const runs: SystemRun[] = [];
  const rss: RssSample[] = [];
  try {
    if (options.rssKeys.length > 0) await runRss(context, systems, rss);
    else await runBenchmark(context, systems, runs);
  } finally {
    // Whatever was measured before an error or Ctrl-C is still reported.
    const levels = runs.flatMap((r) => r.levels);
    if (levels.length > 0) out.write(`\n${formatResults(levels)}\n${legend(levels.map((l) => l.protocol))}\n`);
    const ratioRows = ratios(levels);
    if (rss.length > 0) out.write(`\n${formatRss(rss)}\n`);
    if (options.cpuProfileDir !== undefined)
      out.write(
        `\n${describeProfiles(
          options.cpuProfileDir,
          runs.find((r) => r.system === 'cairn'),
        )}\n`,
      );
    out.write(`\nload average: ${format(loadAverageAtStart)} at start, ${format(loadavg())} at end (${cpus().length} CPUs)\n`);
    if (options.jsonPath !== undefined) {
      const document = { startedAt, argv, host: host(loadAverageAtStart), notes: NOTES, options, runs, ratios: ratioRows, rss };
      const text = `${JSON.stringify(document, null, 2)}\n`;
      if (options.jsonPath === '-') process.stdout.write(text);
      else writeFileSync(options.jsonPath, text);
    }
  }
}

function header(options: BenchOptions, systems: readonly SystemName[], argv: readonly string[]): string {
  const mode =
    options.rssKeys.length > 0
      ? `RSS mode: keys ${options.rssKeys.join(', ')} (${options.valueBytes}-byte values, ${options.rssConcurrency} concurrent puts)`
      : `workloads ${options.workloads.join(', ')}; concurrency ${options.concurrency.join(', ')}` +
        `${options.protocols.includes('http') ? ` (http: ${options.httpConnections.join(', ')} connections)` : ''}; ` +
        `${options.durationMs / 1000} s per level after ${options.warmupMs / 1000} s warm-up, ` +
        `${options.settleMs > 0 ? `${options.settleMs / 1000} s of settling before each protocol's first level` : 'no settling (cold)'}; ` +
        `${options.keys} keys, ${options.valueBytes}-byte values`;
  const protocols = systems.map((system) => `${system} ${protocolsOf(system, options.protocols).join(', ') || '(none)'}`).join('; ');
  return [
    `cairn bench ${argv.join(' ')}`.trimEnd(),
    `systems: ${systems.join(', ')}${options.etcd ? '' : ' (etcd skipped: --no-etcd or no binary)'}; ${options.nodes} members each`,
    ...(options.rssKeys.length > 0 ? [] : [`protocols: ${protocols}`]),
    mode,
    `host: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, load average ${format(loadavg())}`,
    ...NOTES.map((note) => `note: ${note}`),
    '',
  ].join('\n');
}

/** Lists the profiles, naming each file's node (by pid) and thread: 0 = the node's main thread, others = tsx's loader thread. */
function describeProfiles(dir: string, cairn: SystemRun | undefined): string {
  let files: string[] = [];
  try {
    files = readdirSync(dir)
      .filter((f) => f.endsWith('.cpuprofile'))
      .sort();
  } catch {
    // Reported below as "none".
  }
  const leaders = new Set(cairn?.levels.map((l) => l.leaderMember));
  const describe = (file: string): string => {
    // Node names profiles CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile.
    const [, , , pid, thread] = file.split('.');
    const member = (cairn?.memberPids.indexOf(Number(pid)) ?? -1) + 1;
    if (member === 0) return file;
    const role = leaders.size === 1 && leaders.has(member) ? ', the leader' : '';
    return `${file}  node ${member}${role}, ${thread === '0' ? 'main thread' : 'loader thread'}`;
  };
  return (
    `CPU profiles of the Cairn nodes (written when they stopped): ${dir}\n` +
    (files.length > 0 ? files.map((f) => `  ${describe(f)}`).join('\n') : '  none written (a node killed with SIGKILL writes none)') +
    '\n  open in Chrome DevTools (Performance, load profile) or https://www.speedscope.app'
  );
}

/** What each protocol in the table is. */
function legend(protocols: readonly Protocol[]): string {
  return PROTOCOLS.filter((p) => protocols.includes(p))
    .map((p) => `  ${p}: ${PROTOCOL_DESCRIPTIONS[p]}`)
    .join('\n');
}

function host(loadAverageAtStart: number[]): object {
  return { cpus: cpus().length, cpuModel: cpus()[0]?.model, node: process.version, loadAverageAtStart, loadAverageAtEnd: loadavg() };
}

function format(loadAverage: number[]): string {
  return loadAverage.map((n) => n.toFixed(2)).join(' ');
}

function clock(): string {
  return new Date().toISOString().slice(11, 19);
}

// A Clerk adds one abort listener per call in flight to its internal close signal, so more
// than 10 concurrent calls on one Clerk trigger MaxListenersExceededWarning on every run
// (reported to the clerk owner). Raising the default for new EventTargets silences it here.
setMaxListeners(4096);
// Exit explicitly: a stray gRPC handle must not keep a finished benchmark alive (stdout/stderr are synchronous on Linux).
process.exit(await main(process.argv.slice(2)));
