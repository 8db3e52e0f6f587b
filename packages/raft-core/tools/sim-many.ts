// Runs the Raft simulator over many seeds (or replays one) and prints a summary.
//
//   npm run sim -- --seeds 5000              # 5000 seeds from a random start
//   npm run sim -- --seeds 5000 --start 0x10 # seeds 0x10 .. 0x10+4999
//   npm run sim -- --seed 0x1f3a             # replay one seed with details
//   SEED=0x1f3a npm run sim                  # the same
//   npm run sim -- --seed 0x1f3a --trace 1   # ... printing every Ready, delivery and fault
//   npm run sim -- --seeds 5000 --unfenced 1 # nodes on lost disks restart unfenced (Raft alone: loses writes)
import { randomInt } from 'node:crypto';
import { formatSeed, parseSeed, replayCommand, runSeed } from '../src/testing/index.js';
import type { SeedResult, SwarmOptions } from '../src/testing/index.js';

interface Args {
  seeds: number;
  start: bigint | undefined;
  seed: bigint | undefined;
  trace: boolean;
  unfenced: boolean;
}

class UsageError extends Error {}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { seeds: 1000, start: undefined, seed: undefined, trace: false, unfenced: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[i + 1];
    if (value === undefined) throw new UsageError(`${flag} needs a value`);
    if (flag === '--seeds') args.seeds = Number(value);
    else if (flag === '--start') args.start = parseSeed(value);
    else if (flag === '--seed') args.seed = parseSeed(value);
    else if (flag === '--trace') args.trace = value !== '0';
    else if (flag === '--unfenced') args.unfenced = value !== '0';
    else throw new UsageError(`unknown flag ${flag}`);
    i++;
  }
  if (!Number.isSafeInteger(args.seeds) || args.seeds < 1) throw new UsageError('--seeds must be a positive integer');
  return args;
}

function replayOne(seed: bigint, trace: boolean, overrides: Partial<SwarmOptions>): number {
  const result = runSeed(seed, overrides, trace ? (line) => console.log(line) : undefined);
  console.log(`seed=${formatSeed(seed)} ${result.ok ? 'ok' : `FAILED ${result.code}`}`);
  console.log(`options: ${JSON.stringify(result.options)}`);
  console.log(`stats:   ${JSON.stringify(result.stats)} ticks=${result.ticks}`);
  if (!result.ok) {
    console.log(`failure: ${result.message}`);
    return 1;
  }
  return 0;
}

function runMany(start: bigint, count: number, overrides: Partial<SwarmOptions>): number {
  const startedAt = performance.now();
  const failures: SeedResult[] = [];
  const byCode = new Map<string, number>();
  let ticks = 0;
  let acked = 0;
  let snapshots = 0;
  let losses = 0;
  for (let i = 0; i < count; i++) {
    const result = runSeed(start + BigInt(i), overrides);
    ticks += result.ticks;
    acked += result.stats.acked;
    snapshots += result.stats.snapshotsInstalled;
    losses += result.stats.storageLosses;
    if (!result.ok) {
      failures.push(result);
      byCode.set(result.code!, (byCode.get(result.code!) ?? 0) + 1);
      console.log(`FAIL seed=${formatSeed(result.seed)} ${result.message}`);
      console.log(`  replay: ${replayCommand(result.seed)}`);
    }
    if ((i + 1) % 500 === 0) console.log(`... ${i + 1}/${count} seeds, ${failures.length} failed`);
  }
  const seconds = (performance.now() - startedAt) / 1000;
  console.log(
    `\nseeds ${formatSeed(start)}..${formatSeed(start + BigInt(count - 1))}: ` +
      `${count - failures.length} passed, ${failures.length} failed in ${seconds.toFixed(1)} s`,
  );
  console.log(
    `simulated ${ticks} ticks, ${acked} acknowledged commands, ${snapshots} snapshots installed, ${losses} disks wiped or rolled back`,
  );
  for (const [code, n] of byCode) console.log(`  ${code}: ${n}`);
  return failures.length === 0 ? 0 : 1;
}

function main(): number {
  try {
    const args = parseArgs(process.argv.slice(2));
    const seedFromEnv = process.env['SEED'];
    const seed = args.seed ?? (seedFromEnv ? parseSeed(seedFromEnv) : undefined);
    const overrides: Partial<SwarmOptions> = args.unfenced ? { fenceLostStorage: false } : {};
    if (seed !== undefined) return replayOne(seed, args.trace, overrides);
    const start = args.start ?? BigInt(randomInt(2 ** 47)) * 0x10000n;
    return runMany(start, args.seeds, overrides);
  } catch (error) {
    if (error instanceof UsageError || error instanceof TypeError) {
      console.error(`sim-many: ${error.message}\nusage: npm run sim -- [--seeds N] [--start S] [--seed X [--trace 1]] [--unfenced 1]`);
      return 2;
    }
    throw error;
  }
}

process.exitCode = main();
