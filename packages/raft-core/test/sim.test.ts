// Goal: Raft safety and liveness hold over thousands of random runs
// (TigerBeetle's VOPR approach with swarm testing).
// Method: each seed draws its own options (cluster size, loss, duplication,
// reordering, partitions, crashes, fsync delays, snapshots, conf changes,
// transfers, PreVote/CheckQuorum) and runs a fault phase, then a healed
// liveness phase that must converge within ticksConvergenceMax; the
// SafetyChecker watches every step. Seeds are deterministic:
//   SEED=0x1f3a  replays one seed (nothing else runs);
//   SIM_SEEDS=N  and SIM_START=0x...  change the sweep (default 2000 from a fixed start).
// Fixed seeds in test/regression-seeds.txt replay on every run. A failure
// prints the one command that replays it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { formatSeed, parseSeed, parseSeedList, replayCommand, runSeed } from '../src/testing/index.js';
import type { SeedResult } from '../src/testing/index.js';

const SWEEP_START_DEFAULT = 0xca1200000n;
const SWEEP_SEEDS_DEFAULT = 2000;

const seedList = parseSeedList(readFileSync(new URL('./regression-seeds.txt', import.meta.url), 'utf8'));
const knownFailing = new Set(seedList.knownFailing);
const replaySeed = process.env['SEED'];

function describeFailure(result: SeedResult): string {
  return `seed=${formatSeed(result.seed)} ${result.message}\n  replay: ${replayCommand(result.seed)}`;
}

if (replaySeed !== undefined && replaySeed !== '') {
  const seed = parseSeed(replaySeed);
  test(`seed ${formatSeed(seed)} upholds safety and liveness`, () => {
    const result = runSeed(seed);
    assert.ok(result.ok, describeFailure(result));
  });
} else {
  test('regression seeds still pass', () => {
    for (const seed of seedList.seeds) {
      const drawn = runSeed(seed);
      assert.ok(drawn.ok, describeFailure(drawn));
      // Seeds found before pipelined apply existed: also replay their original schedule.
      if (drawn.options.applyDelayMaxInstants > 0) {
        const original = runSeed(seed, { applyDelayMaxInstants: 0 });
        assert.ok(original.ok, `${describeFailure(original)} (with applyDelayMaxInstants 0)`);
      }
    }
  });

  test('random seeds uphold safety and liveness', (t) => {
    const start = process.env['SIM_START'] ? parseSeed(process.env['SIM_START']) : SWEEP_START_DEFAULT;
    const count = Number(process.env['SIM_SEEDS'] ?? SWEEP_SEEDS_DEFAULT);
    const failures: string[] = [];
    let acked = 0;
    let snapshots = 0;
    let leaders = 0;
    for (let i = 0n; i < BigInt(count); i++) {
      const result = runSeed(start + i);
      acked += result.stats.acked;
      snapshots += result.stats.snapshotsInstalled;
      leaders += result.stats.leaders;
      if (result.ok) continue;
      if (knownFailing.has(result.seed)) t.diagnostic(`known failing (listed in regression-seeds.txt): ${describeFailure(result)}`);
      else failures.push(describeFailure(result));
    }
    t.diagnostic(
      `${count} seeds from ${formatSeed(start)}: ${acked} acknowledged commands, ` + `${leaders} leaders, ${snapshots} snapshots installed`,
    );
    assert.ok(acked > count, 'the workload made progress');
    assert.deepEqual(failures, [], `${failures.length} seeds failed:\n${failures.slice(0, 10).join('\n')}`);
  });
}
