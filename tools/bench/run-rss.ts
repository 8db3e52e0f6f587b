/**
 * The RSS mode: on a fresh cluster, load distinct keys (`rss/000000000…`, one
 * value each) with many concurrent puts and read the leader's VmRSS and data
 * dir size at each requested key count (and once before loading, as a baseline).
 */
import { fillKeys, keyName, makeKeySpace, runLevel } from './load.js';
import { dirSizeBytes, readRssBytes } from './proc-stats.js';
import type { RssSample } from './report.js';
import type { RunContext } from './run-benchmark.js';
import { loadingProtocol, startSystem } from './systems.js';
import type { SystemName } from './target.js';

const MiB = 1024 * 1024;
/** A progress line this often while loading (1M keys can take many minutes). */
const PROGRESS_INTERVAL_MS = 15_000;
const RSS_KEY_PREFIX = 'rss/';

/** Appends to `samples` as counts are reached, so a failure or Ctrl-C still leaves what was measured. */
export async function runRss(context: RunContext, systems: readonly SystemName[], samples: RssSample[]): Promise<void> {
  for (const system of systems) {
    if (context.signal.aborted) break;
    await runRssFor(context, system, samples);
  }
}

async function runRssFor(context: RunContext, system: SystemName, samples: RssSample[]): Promise<void> {
  const { options, log, signal } = context;
  log(`${system}: starting a fresh cluster for the RSS measurement`);
  const sut = await startSystem(system, options, context.teardown);
  const client = await sut.kvTarget(loadingProtocol(system, options.protocols), options.rssConcurrency);
  try {
    log(`${system}: loading through ${client.protocol}: ${client.describeEndpoint}`);
    const { value } = makeKeySpace(1, options.valueBytes);
    log(`${system}: member pids ${sut.memberPids.map((pid, i) => `${i + 1}=${pid}`).join(' ')}`);
    const sample = async (keys: number, loadSeconds: number, loaded: number): Promise<RssSample> => {
      const leaderRssMiB = readRssBytes(await sut.leaderPid()) / MiB;
      // The first reading depends on how long loading took (V8 sizes its heap to the load, and a
      // 10k load lasts seconds); the same steady load at every count makes the second comparable.
      if (options.rssSteadyMs > 0 && keys > 0 && !signal.aborted) {
        const keySpace = { keys: Array.from({ length: keys }, (_, i) => keyName(RSS_KEY_PREFIX, i)), value };
        await runLevel(client, {
          workload: 'put',
          concurrency: options.rssConcurrency,
          warmupMs: 0,
          durationMs: options.rssSteadyMs,
          keySpace,
          signal,
        });
      }
      const rss: RssSample = {
        system,
        keys,
        leaderRssMiB,
        leaderSteadyRssMiB: keys > 0 ? readRssBytes(await sut.leaderPid()) / MiB : leaderRssMiB,
        leaderDataDirMiB: dirSizeBytes(await sut.leaderDataDir()) / MiB,
        loadSeconds,
        putsPerSec: loadSeconds > 0 ? loaded / loadSeconds : 0,
      };
      samples.push(rss);
      log(
        `${system}: ${keys} keys: leader RSS ${rss.leaderRssMiB.toFixed(1)} MiB (${rss.leaderSteadyRssMiB.toFixed(1)} MiB after ${options.rssSteadyMs / 1000} s of overwrites), data dir ${rss.leaderDataDirMiB.toFixed(1)} MiB` +
          (loaded > 0 ? ` (loaded ${loaded} in ${loadSeconds.toFixed(1)} s, ${rss.putsPerSec.toFixed(0)} puts/s)` : ''),
      );
      return rss;
    };
    await sample(0, 0, 0);
    let loadedKeys = 0;
    for (const target of options.rssKeys) {
      const started = performance.now();
      let written = 0;
      const progress = setInterval(() => {
        const rate = written / ((performance.now() - started) / 1000);
        log(
          `${system}: ${loadedKeys + written} / ${target} keys, ${rate.toFixed(0)} puts/s, ~${((target - loadedKeys - written) / rate).toFixed(0)} s to go`,
        );
      }, PROGRESS_INTERVAL_MS);
      try {
        await fillKeys(client, {
          prefix: RSS_KEY_PREFIX,
          fromIndex: loadedKeys,
          toIndex: target,
          concurrency: options.rssConcurrency,
          value,
          signal,
          onKeyWritten: () => void (written += 1),
        });
      } finally {
        clearInterval(progress);
      }
      if (signal.aborted) return;
      await sample(target, (performance.now() - started) / 1000, target - loadedKeys);
      loadedKeys = target;
    }
  } finally {
    log(`${system}: stopping the cluster`);
    client.close();
    await sut.stop();
  }
}
