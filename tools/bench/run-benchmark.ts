/**
 * The benchmark mode: for each system in turn (never both at once, so they do
 * not compete for the CPU), start a fresh cluster, write every key once, then
 * run each workload at each concurrency level and stop the cluster.
 */
import type { BenchOptions } from './args.js';
import { fillKeys, BENCH_KEY_PREFIX, makeKeySpace, runLevel } from './load.js';
import { cpuMeter } from './proc-stats.js';
import { formatErrors, type MeasuredLevel } from './report.js';
import { startSystem, type SystemUnderTest } from './systems.js';
import type { Teardown } from './processes.js';
import type { SystemName } from './target.js';

const PREFILL_CONCURRENCY = 64;

export interface SystemRun {
  readonly system: SystemName;
  readonly endpoint: string;
  /** Process id of member 1, 2, 3. */
  readonly memberPids: readonly number[];
  readonly levels: MeasuredLevel[];
}

export interface RunContext {
  readonly options: BenchOptions;
  readonly teardown: Teardown;
  readonly signal: AbortSignal;
  readonly log: (line: string) => void;
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
  const maxWorkers = Math.max(...options.concurrency, PREFILL_CONCURRENCY);
  log(`${system}: starting a fresh ${system === 'cairn' ? '3-node Cairn' : '3-member etcd'} cluster`);
  const sut = await startSystem(system, options, maxWorkers, context.teardown);
  const run: SystemRun = { system, endpoint: sut.target.describeEndpoint, memberPids: sut.memberPids, levels: [] };
  runs.push(run);
  try {
    log(`${system}: ${sut.target.describeEndpoint}`);
    log(`${system}: member pids ${sut.memberPids.map((pid, i) => `${i + 1}=${pid}`).join(' ')}`);
    const keySpace = makeKeySpace(options.keys, options.valueBytes);
    const prefillStarted = performance.now();
    await fillKeys(sut.target, {
      prefix: BENCH_KEY_PREFIX,
      fromIndex: 0,
      toIndex: options.keys,
      concurrency: PREFILL_CONCURRENCY,
      value: keySpace.value,
      signal,
    });
    log(`${system}: wrote ${options.keys} keys in ${((performance.now() - prefillStarted) / 1000).toFixed(1)} s`);
    if (options.settleMs > 0 && options.workloads.length > 0) {
      // A fresh Node process (the nodes and this generator) runs its first
      // seconds cold while V8 compiles the hot paths: measured 1-client puts
      // show a p99 well above the steady one for ~15 s. Both systems get it.
      log(`${system}: settling for ${options.settleMs / 1000} s (1 worker, ${options.workloads[0]}; not in the results)`);
      const settled = await runLevel(sut.target, {
        workload: options.workloads[0]!,
        concurrency: 1,
        warmupMs: 0,
        durationMs: options.settleMs,
        keySpace,
        signal,
      });
      log(`${system}: settled: ${settled.ops} ops, errors ${formatErrors(settled)}`);
    }
    for (const workload of options.workloads) {
      for (const concurrency of options.concurrency) {
        if (signal.aborted) return;
        const level = await measureLevel(sut, () =>
          runLevel(sut.target, { workload, concurrency, warmupMs: options.warmupMs, durationMs: options.durationMs, keySpace, signal }),
        );
        run.levels.push(level);
        log(
          `${system} ${workload} c=${concurrency}: ${level.opsPerSec.toFixed(0)} ops/s, p50 ${level.latencyMs.p50.toFixed(2)} ms, ` +
            `p99 ${level.latencyMs.p99.toFixed(2)} ms, errors ${level.errors}, cpu gen ${level.cpuPercent.loadGenerator.toFixed(0)}% leader ${level.cpuPercent.leader.toFixed(0)}%`,
        );
      }
    }
  } finally {
    log(`${system}: stopping the cluster`);
    await sut.stop();
  }
}

async function measureLevel(sut: SystemUnderTest, run: () => ReturnType<typeof runLevel>): Promise<MeasuredLevel> {
  const leaderPid = await sut.target.leaderPid();
  const members = cpuMeter(sut.memberPids);
  const ownBefore = process.cpuUsage();
  const startedAt = performance.now();
  const result = await run();
  const wallMicros = (performance.now() - startedAt) * 1000;
  const own = process.cpuUsage(ownBefore);
  const membersPercent = members();
  const leaderIndex = sut.memberPids.indexOf(leaderPid);
  return {
    ...result,
    leaderMember: leaderIndex + 1,
    cpuPercent: {
      loadGenerator: ((own.user + own.system) / wallMicros) * 100,
      leader: membersPercent[leaderIndex] ?? NaN,
      members: membersPercent,
    },
  };
}
