/**
 * Issue 20 acceptance: mutex safety. Several processes contend for one lock
 * through the Clerk's Mutex while lock holders are SIGKILLed and the leader
 * is killed. Each holder writes (holder, fencing revision, acquire time)
 * to a shared ledger when `lock()` returns and a release line before it
 * unlocks (or the moment its session's lease is lost); a holder killed while
 * holding ends its interval when the test saw it exit. Required: the
 * intervals, ordered by acquire time, never overlap, and their fencing
 * revisions strictly increase.
 * Method: a 3-node cluster (50 ms ticks); four contender processes
 * (mutex-holder.ts, 3 s session TTL, 150 ms holds); after some
 * acquisitions, the current holder is SIGKILLed (and replaced) twice, and
 * the leader once; the run ends after enough acquisitions past the last
 * fault. Synchronisation is waitFor on the ledger with deadlines.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { TestCluster, waitFor } from '@cairn/testkit';

const CONTENDERS = 4;
const HOLDER_SCRIPT = fileURLToPath(new URL('./mutex-holder.ts', import.meta.url));

interface LedgerLine {
  readonly event: 'acquire' | 'release';
  readonly holder: string;
  readonly pid: number;
  readonly fencing: number;
  readonly lost?: boolean;
  readonly t: string;
}

interface Interval {
  readonly holder: string;
  readonly fencing: number;
  readonly start: bigint;
  readonly end: bigint;
  readonly how: 'released' | 'lost' | 'killed';
}

class Contenders {
  private readonly children = new Map<number, { name: string; child: ChildProcess; output: string }>();
  /** When each killed process was seen to exit (CLOCK_MONOTONIC ns). */
  readonly exitedAt = new Map<number, bigint>();
  private next = 1;

  constructor(
    private readonly ledger: string,
    private readonly endpoints: readonly string[],
  ) {}

  spawn(): void {
    const name = `h${this.next++}`;
    const child = spawn(
      process.execPath,
      ['--conditions=@cairn/source', '--import', 'tsx', HOLDER_SCRIPT, this.ledger, name, ...this.endpoints],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const entry = { name, child, output: '' };
    child.stdout!.on('data', (chunk: Buffer) => (entry.output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (entry.output += chunk.toString()));
    this.children.set(child.pid!, entry);
  }

  /** SIGKILL, and the time its exit was seen: no later than that, it held nothing. */
  async kill(pid: number): Promise<void> {
    const entry = this.children.get(pid);
    if (entry === undefined) return;
    this.children.delete(pid);
    if (entry.child.exitCode === null && entry.child.signalCode === null) {
      await new Promise<void>((resolve) => {
        entry.child.once('exit', () => resolve());
        entry.child.kill('SIGKILL');
      });
    }
    this.exitedAt.set(pid, process.hrtime.bigint());
  }

  async killAll(): Promise<void> {
    await Promise.all([...this.children.keys()].map((pid) => this.kill(pid)));
  }

  /** Processes that exited on their own (a crash of the holder script). */
  crashed(): string[] {
    return [...this.children.values()].filter((e) => e.child.exitCode !== null).map((e) => `${e.name}: ${e.output.slice(-500)}`);
  }
}

function readLedger(path: string): LedgerLine[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as LedgerLine);
}

function acquisitions(path: string): number {
  return readLedger(path).filter((line) => line.event === 'acquire').length;
}

/** The process holding the lock per the ledger (its last acquire has no release yet). */
function currentHolder(lines: readonly LedgerLine[]): LedgerLine | undefined {
  const last = [...lines].reverse().find((line) => line.event === 'acquire');
  if (last === undefined) return undefined;
  const released = lines.some((line) => line.event === 'release' && line.pid === last.pid && line.fencing === last.fencing);
  return released ? undefined : last;
}

function intervals(lines: readonly LedgerLine[], exitedAt: ReadonlyMap<number, bigint>): Interval[] {
  return lines
    .filter((line) => line.event === 'acquire')
    .map((acquire): Interval => {
      const release = lines.find((line) => line.event === 'release' && line.pid === acquire.pid && line.fencing === acquire.fencing);
      const start = BigInt(acquire.t);
      if (release !== undefined) {
        return { holder: acquire.holder, fencing: acquire.fencing, start, end: BigInt(release.t), how: release.lost ? 'lost' : 'released' };
      }
      const exited = exitedAt.get(acquire.pid);
      assert.ok(exited !== undefined, `${acquire.holder} acquired (fencing ${acquire.fencing}) and neither released nor was killed`);
      return { holder: acquire.holder, fencing: acquire.fencing, start, end: exited, how: 'killed' };
    })
    .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
}

test('mutex safety: contenders SIGKILLed while holding and a leader kill never put two holders in at once', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-mutex-safety-'));
  const ledger = join(dir, 'ledger.jsonl');
  writeFileSync(ledger, '');
  const cluster = await TestCluster.start({ size: 3 });
  const contenders = new Contenders(
    ledger,
    cluster.nodes.map((node) => node.grpcAddress),
  );
  try {
    await cluster.waitForLeader();
    for (let i = 0; i < CONTENDERS; i++) contenders.spawn();
    /** Waits for `more` acquisitions beyond those in the ledger now. */
    const reachMore = async (more: number, what: string): Promise<void> => {
      const target = acquisitions(ledger) + more;
      await waitFor(() => acquisitions(ledger) >= target || undefined, { deadlineMs: 40_000, intervalMs: 20, what });
    };
    const killHolder = async (what: string): Promise<void> => {
      const holder = await waitFor(() => currentHolder(readLedger(ledger)), { deadlineMs: 20_000, intervalMs: 5, what });
      await contenders.kill(holder.pid);
      contenders.spawn();
    };

    await reachMore(4, 'the first acquisitions');
    await killHolder('a holder to kill');
    await reachMore(3, 'acquisitions after the first holder kill');
    const leader = await cluster.waitForLeader();
    await cluster.kill(leader);
    await reachMore(3, 'acquisitions after the leader kill');
    await cluster.launch(leader, cluster.peerArgs(leader.id));
    await killHolder('a second holder to kill');
    await reachMore(4, 'acquisitions after the second holder kill');
    assert.deepEqual(contenders.crashed(), [], 'no contender process crashed');
  } finally {
    await contenders.killAll();
    await cluster.stop();
  }
  const lines = readLedger(ledger);
  rmSync(dir, { recursive: true, force: true });
  const held = intervals(lines, contenders.exitedAt);
  t.diagnostic(`${held.length} holds: ${held.map((h) => `${h.holder}@${h.fencing}(${h.how})`).join(' ')}`);
  // The last hold ends with the run; the kills under test are the ones someone acquired after.
  assert.ok(held.slice(0, -1).filter((h) => h.how === 'killed').length >= 2, 'holders were killed while holding, and others took over');
  for (let i = 1; i < held.length; i++) {
    const before = held[i - 1]!;
    const after = held[i]!;
    assert.ok(
      after.start > before.end,
      `${after.holder} (fencing ${after.fencing}) acquired ${(before.end - after.start) / 1_000_000n} ms before ${before.holder} (fencing ${before.fencing}, ${before.how}) let go`,
    );
    assert.ok(after.fencing > before.fencing, `fencing revisions increase: ${before.fencing} then ${after.fencing}`);
  }
});
