/**
 * The benchmark mode: for each system in turn (never both at once, so they do
 * not compete for the CPU), start a fresh cluster, write every key once, then
 * for each client protocol it speaks settle, run each workload at each
 * concurrency level, and at the end stop the cluster.
 */
import type { BenchOptions } from './args.js';
import { runHttpLevel } from './http-load.js';
import { fillKeys, BENCH_KEY_PREFIX, makeKeySpace, runLevel, type KeySpace, type LevelOptions, type LevelResult } from './load.js';
import { cpuSecondsOrNaN } from './proc-stats.js';
import { formatErrors, type MeasuredLevel } from './report.js';
import { loadingProtocol, startSystem, type SystemUnderTest } from './systems.js';
import type { Teardown } from './processes.js';
import { etcdBaseline, type Protocol, type SystemName } from './target.js';

const PREFILL_CONCURRENCY = 64;

export interface SystemRun {
  readonly system: SystemName;
  /** Where each protocol's requests went. */
  readonly endpoints: Partial<Record<Protocol, string>>;
  /** Process id of member 1, 2, 3, … */
  readonly memberPids: readonly number[];
  readonly levels: MeasuredLevel[];
}

export interface RunContext {
  readonly options: BenchOptions;
  readonly teardown: Teardown;
  readonly signal: AbortSignal;
  readonly log: (line: string) => void;
}

/** The protocols each system runs: Cairn's as asked; etcd's the baseline of each (unary or http). */
export function protocolsOf(system: SystemName, protocols: readonly Protocol[]): Protocol[] {
  if (system === 'cairn') return [...protocols];
  const etcd: Protocol[] = [];
  if (protocols.some((p) => etcdBaseline(p) === 'unary')) etcd.push('unary');
  if (protocols.includes('http')) etcd.push('http');
  return etcd;
}

/** Appends to `runs` as levels finish, so a failure or Ctrl-C still leaves what was measured. */
export async function runBenchmark(context: RunContext, systems: readonly SystemName[], runs: SystemRun[]): Promise<void> {
  for (const system of systems) {
    if (context.signal.aborted) break;
    await runSystem(context, system, runs);
  }
}

async function runSystem(context: RunContext, system: SystemName, runs: SystemRun[]): Promise<void> {
  const { options, log, signal } = context;
  const protocols = protocolsOf(system, options.protocols);
  const maxWorkers = Math.max(...options.concurrency, PREFILL_CONCURRENCY);
  log(`${system}: starting a fresh ${options.nodes}-${system === 'cairn' ? 'node Cairn' : 'member etcd'} cluster`);
  const sut = await startSystem(system, options, context.teardown);
  const run: SystemRun = { system, endpoints: {}, memberPids: sut.memberPids, levels: [] };
  runs.push(run);
  try {
    log(`${system}: member pids ${sut.memberPids.map((pid, i) => `${i + 1}=${pid}`).join(' ')}`);
    const keySpace = makeKeySpace(options.keys, options.valueBytes);
    const loader = await sut.kvTarget(loadingProtocol(system, protocols), PREFILL_CONCURRENCY);
    const prefillStarted = performance.now();
    try {
      await fillKeys(loader, {
        prefix: BENCH_KEY_PREFIX,
        fromIndex: 0,
        toIndex: options.keys,
        concurrency: PREFILL_CONCURRENCY,
        value: keySpace.value,
        signal,
      });
    } finally {
      loader.close();
    }
    log(`${system}: wrote ${options.keys} keys (${loader.protocol}) in ${((performance.now() - prefillStarted) / 1000).toFixed(1)} s`);
    for (const protocol of protocols) {
      if (signal.aborted) return;
      await runProtocol(context, sut, protocol, keySpace, maxWorkers, run);
    }
  } finally {
    log(`${system}: stopping the cluster`);
    await sut.stop();
  }
}

async function runProtocol(
  context: RunContext,
  sut: SystemUnderTest,
  protocol: Protocol,
  keySpace: KeySpace,
  maxWorkers: number,
  run: SystemRun,
): Promise<void> {
  const { options, log, signal } = context;
  const system = sut.system;
  let runLevelOf: (level: Omit<LevelOptions, 'keySpace' | 'signal'>) => Promise<LevelResult>;
  let close = (): void => undefined;
  if (protocol === 'http') {
    const target = await sut.httpTarget();
    run.endpoints[protocol] = target.describeEndpoint;
    runLevelOf = (level) => runHttpLevel(target, { ...level, keySpace, signal });
  } else {
    const target = await sut.kvTarget(protocol, maxWorkers);
    run.endpoints[protocol] = target.describeEndpoint;
    close = () => target.close();
    runLevelOf = (level) => runLevel(target, { ...level, keySpace, signal });
  }
  try {
    log(`${system} ${protocol}: ${run.endpoints[protocol]}`);
    const levels = protocol === 'http' ? options.httpConnections : options.concurrency;
    if (options.settleMs > 0 && options.workloads.length > 0) {
      // A fresh Node process (the nodes and this generator) runs its first
      // seconds cold while V8 compiles the hot paths: measured 1-client puts
      // show a p99 well above the steady one for ~15 s. Each protocol has its
      // own hot path in the server and the client, so each gets its settling.
      log(`${system} ${protocol}: settling for ${options.settleMs / 1000} s (1 worker, ${options.workloads[0]}; not in the results)`);
      const settled = await runLevelOf({ workload: options.workloads[0]!, concurrency: 1, warmupMs: 0, durationMs: options.settleMs });
      log(`${system} ${protocol}: settled: ${settled.ops} ops, errors ${formatErrors(settled)}`);
    }
    for (const workload of options.workloads) {
      for (const concurrency of levels) {
        if (signal.aborted) return;
        const level = await measureLevel(sut, (window) =>
          runLevelOf({ workload, concurrency, warmupMs: options.warmupMs, durationMs: options.durationMs, window }),
        );
        run.levels.push(level);
        log(
          `${system} ${protocol} ${workload} c=${concurrency}: ${level.opsPerSec.toFixed(0)} ops/s, p50 ${level.latencyMs.p50.toFixed(2)} ms, ` +
            `p99 ${level.latencyMs.p99.toFixed(2)} ms, errors ${level.errors}, cpu gen ${level.cpuPercent.loadGenerator.toFixed(0)}% ` +
            `leader ${level.cpuPercent.leader.toFixed(0)}%, servers ${level.serverCpuMicrosPerOp.toFixed(0)} µs/op`,
        );
      }
    }
  } finally {
    close();
  }
}

/**
 * Runs one level and adds CPU use: % of one core over warm-up plus window
 * (the generator, the leader, every member), and the servers' CPU time summed
 * over exactly the measured window, per successful operation.
 */
async function measureLevel(
  sut: SystemUnderTest,
  run: (window: NonNullable<LevelOptions['window']>) => Promise<LevelResult>,
): Promise<MeasuredLevel> {
  const leaderPid = await sut.leaderPid();
  const cpuOf = (): number[] => sut.memberPids.map(cpuSecondsOrNaN);
  const membersBefore = cpuOf();
  const ownBefore = process.cpuUsage();
  const startedAt = performance.now();
  let windowStart: number[] = [];
  let windowEnd: number[] = [];
  const result = await run({ onStart: () => void (windowStart = cpuOf()), onEnd: () => void (windowEnd = cpuOf()) });
  const wallSeconds = (performance.now() - startedAt) / 1000;
  const own = process.cpuUsage(ownBefore);
  const membersAfter = cpuOf();
  const membersPercent = membersAfter.map((after, i) => ((after - membersBefore[i]!) / wallSeconds) * 100);
  const serverCpuSeconds = windowEnd.reduce((sum, end, i) => sum + (end - windowStart[i]!), 0);
  const leaderIndex = sut.memberPids.indexOf(leaderPid);
  return {
    ...result,
    leaderMember: leaderIndex + 1,
    cpuPercent: {
      loadGenerator: ((own.user + own.system) / 1e6 / wallSeconds) * 100,
      leader: membersPercent[leaderIndex] ?? NaN,
      members: membersPercent,
    },
    serverCpuSeconds,
    serverCpuMicrosPerOp: result.ops > 0 ? (serverCpuSeconds * 1e6) / result.ops : NaN,
  };
}
