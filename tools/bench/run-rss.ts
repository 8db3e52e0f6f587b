/**
 * The RSS mode: on a fresh cluster, load distinct keys (`rss/000000000…`, one
 * value each) with many concurrent puts and read the leader's VmRSS, its
 * RssAnon and its data dir size at each requested key count (and once before
 * loading, as a baseline).
 *
 * VmRSS = RssAnon + RssFile + RssShmem. RssAnon is the process's own memory
 * (heaps, LevelDB's caches and memtables). RssFile is mapped files: the
 * executable (~45 MiB of Node's binary is touched, ~20 MiB of etcd's), shared
 * libraries, and the data files a store maps to read them (LevelDB's table
 * files, etcd's whole bbolt file): page cache the kernel may drop and share.
 */
import { readFileSync } from 'node:fs';
import { fillKeys, keyName, makeKeySpace, runLevel } from './load.js';
import { dirSizeBytes } from './proc-stats.js';
import type { RssSample } from './report.js';
import type { RunContext } from './run-benchmark.js';
import { loadingProtocol, startSystem } from './systems.js';
import type { SystemName } from './target.js';

const MiB = 1024 * 1024;
/** A progress line this often while loading (1M keys can take many minutes). */
const PROGRESS_INTERVAL_MS = 15_000;
const RSS_KEY_PREFIX = 'rss/';

interface Memory {
  readonly rssMiB: number;
  readonly rssAnonMiB: number;
}

/** VmRSS and RssAnon of a process, from /proc/<pid>/status (in kB). */
function readMemory(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kB = (field: string): number => {
    const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB$`, 'm').exec(status);
    if (match === null) throw new Error(`no ${field} in /proc/${pid}/status`);
    return Number(match[1]) * 1024;
  };
  return { rssMiB: kB('VmRSS') / MiB, rssAnonMiB: kB('RssAnon') / MiB };
}

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
    const sample = async (keys: number, loadSeconds: number, written: number): Promise<RssSample> => {
      const loaded = readMemory(await sut.leaderPid());
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
      const steady = keys > 0 ? readMemory(await sut.leaderPid()) : loaded;
      const rss: RssSample = {
        system,
        keys,
        leaderRssMiB: loaded.rssMiB,
        leaderRssAnonMiB: loaded.rssAnonMiB,
        leaderSteadyRssMiB: steady.rssMiB,
        leaderSteadyRssAnonMiB: steady.rssAnonMiB,
        leaderDataDirMiB: dirSizeBytes(await sut.leaderDataDir()) / MiB,
        loadSeconds,
        putsPerSec: loadSeconds > 0 ? written / loadSeconds : 0,
      };
      samples.push(rss);
      log(
        `${system}: ${keys} keys: leader RSS ${rss.leaderRssMiB.toFixed(1)} MiB, RssAnon ${rss.leaderRssAnonMiB.toFixed(1)} MiB ` +
          `(${rss.leaderSteadyRssMiB.toFixed(1)} / ${rss.leaderSteadyRssAnonMiB.toFixed(1)} MiB after ${options.rssSteadyMs / 1000} s of overwrites), ` +
          `data dir ${rss.leaderDataDirMiB.toFixed(1)} MiB` +
          (written > 0 ? ` (loaded ${written} in ${loadSeconds.toFixed(1)} s, ${rss.putsPerSec.toFixed(0)} puts/s)` : ''),
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
