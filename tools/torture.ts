/**
 * `npm run torture -- --minutes N`: a randomized fault run against real
 * cairn-server processes (the testkit's FaultCluster: each node in its own
 * network namespace), under a clerk workload whose history is checked for
 * linearizability at the end. Not part of `npm test`. Needs root, `ip` and
 * `nft` (see docs/fault-testing.md).
 *
 * One fault at a time, drawn from a seeded generator (every kind once per
 * round, in a shuffled order, so even a short run has each): isolate a
 * node, split into minority and majority, a one-way cut, a bridge (two
 * halves that only one node joins), SIGSTOP, SIGKILL and restart, a wiped
 * data dir, a data dir rolled back to an earlier copy (one taken then if
 * the node has none), a lagging minority plus a dead leader plus a wiped
 * node (issue 17 §2), peer links delayed, peer connections reset. Each is held for 1-6 s, undone, and the cluster must name a leader
 * again before the next. At the end everything heals and every node must
 * catch up with the leader.
 *
 * Exit codes: 0 = linearizable, no crash, every node rejoined;
 * 1 = a non-linearizable history or a node that crashed;
 * 2 = usage, or this machine cannot run it; 3 = liveness: a node that did
 * not rejoin, no leader after a heal, or the checker could not decide.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { FaultCluster, FaultHarnessError, unsupportedReason, waitFor } from '@cairn/testkit';
import { HistoryLog, Workload, checkLinearizable } from '@cairn/fault-tests';

const EXIT_OK = 0;
const EXIT_UNSAFE = 1;
const EXIT_USAGE = 2;
const EXIT_LIVENESS = 3;

const USAGE = `usage: npm run torture -- [--minutes N] [--nodes N] [--clients N] [--seed N] [--out DIR]

  --minutes N   how long to inject faults (default 5)
  --nodes N     cluster size (default 5)
  --clients N   clerks in the workload (default 4)
  --seed N      seeds the fault schedule (default: random; printed)
  --out DIR     where the history, node logs and summary go (default ./data/torture)
`;

interface Options {
  minutes: number;
  nodes: number;
  clients: number;
  seed: number;
  out: string;
}

/** A leader must be back this soon after a fault is undone. */
const LEADER_AFTER_HEAL_MS = 20_000;
/** A disk fault waits this long for every node to catch up first. */
const CATCH_UP_MS = 10_000;
/** Every node must catch up this soon after the final heal. */
const CONVERGE_MS = 30_000;

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      minutes: { type: 'string' },
      nodes: { type: 'string' },
      clients: { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(EXIT_OK);
  }
  const number = (name: string, text: string | undefined, fallback: number, min: number): number => {
    const value = text === undefined ? fallback : Number(text);
    if (!Number.isFinite(value) || value < min)
      throw new FaultHarnessError('BAD_ARGUMENT', `--${name} must be a number >= ${min}, got ${text}`);
    return value;
  };
  return {
    minutes: number('minutes', values.minutes, 5, 0),
    nodes: Math.floor(number('nodes', values.nodes, 5, 3)),
    clients: Math.floor(number('clients', values.clients, 4, 1)),
    seed: Math.floor(number('seed', values.seed, Math.floor(Math.random() * 2 ** 31), 0)),
    out: resolve(values.out ?? join('data', 'torture')),
  };
}

/** mulberry32: a small seeded generator, so a fault schedule can be replayed. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

type FaultKind = 'isolate' | 'split' | 'one-way' | 'bridge' | 'pause' | 'kill' | 'wipe' | 'rollback' | 'lagging-wipe' | 'delay' | 'reset';
const FAULT_KINDS: readonly FaultKind[] = [
  'isolate',
  'split',
  'one-way',
  'bridge',
  'pause',
  'kill',
  'wipe',
  'rollback',
  'lagging-wipe',
  'delay',
  'reset',
];

class Torture {
  private readonly random: () => number;
  readonly faults = new Map<FaultKind, number>();
  readonly problems: string[] = [];
  /** Nodes that refused to start (after a disk fault): left down. */
  readonly refused = new Set<number>();
  /** The last copy of each node's data dir, for a later rollback. */
  private readonly copies = new Map<number, string>();
  /** The kinds still to draw in this round (popped from the end). */
  private round: FaultKind[] = [];
  /** Kinds that could not run in their round: drawn first in the next. */
  private deferred = new Set<FaultKind>();
  private readonly startedAt = Date.now();

  constructor(
    private readonly cluster: FaultCluster,
    private readonly options: Options,
  ) {
    this.random = seededRandom(options.seed);
  }

  private shuffled(): number[] {
    return this.cluster.nodes
      .map((n) => n.id)
      .map((id) => ({ id, order: this.random() }))
      .sort((a, b) => a.order - b.order)
      .map((x) => x.id);
  }

  private log(line: string): void {
    const seconds = ((Date.now() - this.startedAt) / 1000).toFixed(1).padStart(7);
    process.stdout.write(`${seconds}s  ${line}\n`);
  }

  /** The next kind: every kind once per round, in a seeded shuffled order (a bag, not independent draws: a 3-minute run still has wipes and rollbacks). */
  private nextKind(): FaultKind {
    if (this.round.length === 0) {
      const shuffled = FAULT_KINDS.map((kind) => ({ kind, order: this.random() }))
        .sort((a, b) => a.order - b.order)
        .map((x) => x.kind);
      this.round = [...shuffled.filter((kind) => !this.deferred.has(kind)), ...shuffled.filter((kind) => this.deferred.has(kind))];
      this.deferred.clear();
    }
    return this.round.pop()!;
  }

  async run(): Promise<void> {
    const until = Date.now() + this.options.minutes * 60_000;
    while (Date.now() < until) {
      const kind = this.nextKind();
      const holdMs = 1_000 + Math.floor(this.random() * 5_000);
      const done = await this.inject(kind, holdMs);
      if (!done) {
        // Not now (a node behind): it comes first in the next round.
        this.deferred.add(kind);
        continue;
      }
      this.faults.set(kind, (this.faults.get(kind) ?? 0) + 1);
      await this.waitForLeaderAfter(kind);
    }
  }

  /** Applies one fault for `holdMs` and undoes it; false when it does not apply now (e.g. a disk fault while another node is behind). */
  private async inject(kind: FaultKind, holdMs: number): Promise<boolean> {
    const c = this.cluster;
    const order = this.shuffled();
    const target = order.find((id) => c.node(id).state === 'running');
    if (target === undefined) return false;
    const minority = Math.floor((order.length - 1) / 2);
    switch (kind) {
      case 'isolate':
        this.log(`isolate node ${target} for ${holdMs} ms`);
        await c.isolate(target);
        break;
      case 'split': {
        const size = 1 + Math.floor(this.random() * minority);
        const group = order.slice(0, size);
        this.log(`split {${group}} | {${order.slice(size)}} for ${holdMs} ms`);
        await c.partition(group);
        break;
      }
      case 'one-way': {
        const [from, to] = order as [number, number];
        this.log(`one-way cut ${from} -> ${to} for ${holdMs} ms`);
        await c.cut(from, to);
        break;
      }
      case 'bridge': {
        const [bridge, ...rest] = order as [number, ...number[]];
        const half = Math.floor(rest.length / 2);
        const left = rest.slice(0, half);
        const right = rest.slice(half);
        this.log(`bridge: {${left}} and {${right}} meet only through node ${bridge}, for ${holdMs} ms`);
        for (const a of left) for (const b of right) await Promise.all([c.cut(a, b), c.cut(b, a)]);
        break;
      }
      case 'pause':
        this.log(`SIGSTOP node ${target} for ${holdMs} ms`);
        c.pause(target);
        break;
      case 'kill':
        this.log(`SIGKILL node ${target}, down for ${holdMs} ms (its data dir is copied for a later rollback)`);
        await c.kill(target);
        this.copies.set(target, c.saveDataDir(target));
        break;
      case 'wipe':
      case 'rollback': {
        // One node with lost state at a time, and only once the others are caught up: more would be data loss no design can prevent.
        if (!(await this.waitAllCaughtUp(kind))) return false;
        const copy = kind === 'rollback' ? (this.copies.get(target) ?? (await this.freshCopy(target, holdMs))) : undefined;
        if (kind === 'rollback' && copy === undefined) return false;
        this.log(
          `SIGKILL node ${target} and ${kind === 'wipe' ? 'wipe its data dir' : `roll its data dir back to ${copy}`}, down for ${holdMs} ms`,
        );
        await c.kill(target);
        if (kind === 'wipe') c.wipe(target);
        else c.rollBack(target, copy!);
        break;
      }
      case 'lagging-wipe': {
        // Issue 17 §2 generalised: a minority falls behind, the leader dies and a
        // caught-up node loses its disk; only that node's vote could let the
        // laggards elect a leader without the acknowledged writes.
        if (!(await this.waitAllCaughtUp(kind))) return false;
        const leader = await c.waitForLeader(LEADER_AFTER_HEAL_MS).catch(() => undefined);
        if (leader === undefined) return false;
        const rest = order.filter((id) => id !== leader);
        const laggards = rest.slice(0, minority);
        const wiped = rest[minority]!;
        this.log(
          `lagging-wipe: {${laggards}} cut off for ${holdMs} ms, then leader ${leader} killed and node ${wiped} killed, wiped and restarted; the others caught up are paused and the leader stays down ${holdMs} ms more`,
        );
        await c.partition(laggards);
        await new Promise((resolve) => setTimeout(resolve, holdMs));
        await c.kill(leader);
        await c.kill(wiped);
        c.wipe(wiped);
        await this.restartOrRefuse(wiped);
        // The other caught-up nodes freeze meanwhile, so the laggards and the wiped node are all the voters there are.
        for (const id of rest.slice(minority + 1)) if (c.node(id).state === 'running') c.pause(id);
        // The dead leader stays silent (its kernel may still hold appends for the laggards).
        await c.heal({ keepIsolated: [leader] });
        break;
      }
      case 'delay': {
        const [a, b] = order as [number, number];
        const ms = 20 + Math.floor(this.random() * 300);
        this.log(`delay ${a} <-> ${b} by ${ms} ms for ${holdMs} ms`);
        c.delayLink(a, b, ms);
        break;
      }
      case 'reset': {
        const [a, b] = order as [number, number];
        this.log(`reset every connection ${a} <-> ${b}`);
        c.cutConnections(a, b);
        break;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, holdMs));
    await this.undo();
    return true;
  }

  /** Heals the network, resumes paused nodes, restarts stopped ones (a refusal to start leaves the node down). */
  async undo(): Promise<void> {
    const c = this.cluster;
    await c.heal();
    for (const node of c.nodes) {
      if (node.state === 'paused') c.resume(node.id);
      if (node.state !== 'stopped' || this.refused.has(node.id)) continue;
      await this.restartOrRefuse(node.id);
    }
  }

  private async restartOrRefuse(id: number): Promise<void> {
    try {
      await this.cluster.restart(id);
    } catch (error) {
      if (!(error instanceof FaultHarnessError) || error.code !== 'NODE_START_FAILED') throw error;
      this.refused.add(id);
      this.log(`node ${id} refused to start and stays down: ${error.message}`);
    }
  }

  private async waitForLeaderAfter(kind: FaultKind): Promise<void> {
    try {
      await this.cluster.waitForLeader(LEADER_AFTER_HEAL_MS);
    } catch {
      this.problems.push(`no leader within ${LEADER_AFTER_HEAL_MS} ms after undoing a ${kind} fault`);
      this.log(`no leader within ${LEADER_AFTER_HEAL_MS} ms after the ${kind} fault`);
    }
  }

  private async waitAllCaughtUp(kind: FaultKind): Promise<boolean> {
    const caughtUp = await waitFor(() => this.allCaughtUp(), { deadlineMs: CATCH_UP_MS, intervalMs: 200 }).catch(() => false);
    if (!caughtUp) this.log(`not now a ${kind}: not every node caught up within ${CATCH_UP_MS} ms`);
    return caughtUp;
  }

  /**
   * For a rollback of a node with no copy yet: SIGKILL it, copy its data
   * dir, restart it, and let the workload write past the copy for
   * `holdMs` once it has caught up. Undefined if it did not come back.
   */
  private async freshCopy(id: number, holdMs: number): Promise<string | undefined> {
    const c = this.cluster;
    this.log(`SIGKILL node ${id} to copy its data dir, restart it, and let ${holdMs} ms of writes pass the copy`);
    await c.kill(id);
    const copy = c.saveDataDir(id);
    this.copies.set(id, copy);
    await this.restartOrRefuse(id);
    if (c.node(id).state !== 'running' || !(await this.waitAllCaughtUp('rollback'))) return undefined;
    await new Promise((resolve) => setTimeout(resolve, holdMs));
    return copy;
  }

  /** How often nodes found their own data dir lost at a restart (the fence's log lines). */
  fencesLogged(): { rolledBack: number; empty: number } {
    const count = (event: string): number => this.cluster.nodes.reduce((sum, n) => sum + this.cluster.logEvents(n.id, event).length, 0);
    return { rolledBack: count('data-dir-lost'), empty: count('data-dir-empty-in-running-cluster') };
  }

  /** Every running node has applied what the leader had applied when asked. */
  private async allCaughtUp(): Promise<boolean> {
    const c = this.cluster;
    if (c.nodes.some((n) => n.state !== 'running')) return false;
    const statuses = await Promise.all(c.nodes.map((n) => c.status(n.id)));
    const leader = statuses.find((s) => s?.role === 'leader');
    // And none still recovering from an earlier disk fault: a majority that lost its disks is not a fault Raft survives.
    return (
      leader !== undefined &&
      statuses.every((s) => s !== undefined && s.appliedIndex + 50 >= leader.appliedIndex && (s.storage ?? 'ok') === 'ok')
    );
  }

  /** After the final heal: every running node reaches the leader's applied index; names those that do not. */
  async nodesNotRejoined(): Promise<number[]> {
    const c = this.cluster;
    const leaderId = await c.waitForLeader(LEADER_AFTER_HEAL_MS).catch(() => undefined);
    if (leaderId === undefined) return c.nodes.filter((n) => n.state === 'running').map((n) => n.id);
    const target = (await c.status(leaderId))?.appliedIndex ?? 0;
    const behind = async (): Promise<number[]> => {
      const statuses = await Promise.all(c.nodes.map(async (n) => ({ id: n.id, status: await c.status(n.id) })));
      return statuses
        .filter(({ id, status }) => !this.refused.has(id) && (status === undefined || status.appliedIndex < target))
        .map(({ id }) => id);
    };
    try {
      await waitFor(async () => (await behind()).length === 0, { deadlineMs: CONVERGE_MS, intervalMs: 200 });
      return [];
    } catch {
      return behind();
    }
  }
}

async function main(argv: string[]): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(argv);
  } catch (error) {
    process.stderr.write(`torture: ${(error as Error).message}\n${USAGE}`);
    return EXIT_USAGE;
  }
  const reason = await unsupportedReason();
  if (reason !== undefined) {
    process.stderr.write(`torture: cannot run here: ${reason}\n`);
    return EXIT_USAGE;
  }
  mkdirSync(options.out, { recursive: true });
  const logDir = join(options.out, 'logs');
  process.stdout.write(
    `torture: ${options.minutes} min, ${options.nodes} nodes, ${options.clients} clerks, seed ${options.seed}; output in ${options.out}\n`,
  );
  const cluster = await FaultCluster.start({ size: options.nodes, proxy: true, logDir });
  const stopSignal = new Promise<void>((resolveStop) => process.once('SIGINT', () => resolveStop()));
  const history = new HistoryLog();
  let workload: Workload | undefined;
  try {
    await cluster.waitForLeader();
    workload = new Workload({
      endpoints: cluster.grpcEndpoints(),
      clerks: options.clients,
      history,
      pauseMs: 20,
      clientPrefix: `t${options.seed}`,
    }).start();
    const torture = new Torture(cluster, options);
    // Ctrl-C ends the fault phase early; the run still heals, checks and reports.
    await Promise.race([torture.run(), stopSignal]);
    await torture.undo();
    const notRejoined = await torture.nodesNotRejoined();
    await workload.stop();
    workload = undefined;
    history.save(join(options.out, 'history.jsonl'));
    const crashes = cluster.crashes();
    const checkStarted = performance.now();
    const verdict = checkLinearizable(history.records);
    const counts = history.counts();
    const fences = torture.fencesLogged();
    const summary = [
      '',
      `torture summary (seed ${options.seed}, ${options.nodes} nodes, ${options.minutes} min)`,
      `  faults injected : ${[...torture.faults].map(([kind, n]) => `${kind} ${n}`).join(', ') || 'none'}`,
      `  operations      : ok ${counts.ok}, failed ${counts.fail}, unknown outcome ${counts.unknown}`,
      `  disk losses seen: ${fences.rolledBack} rolled back (data-dir-lost), ${fences.empty} empty (data-dir-empty-in-running-cluster)`,
      `  crashes         : ${crashes.length === 0 ? 'none' : crashes.map((e) => `node ${e.id} (exit ${e.code ?? e.signal}: ${e.outputTail.trim().split('\n').pop()})`).join('; ')}`,
      `  refused to start: ${[...torture.refused].join(', ') || 'none'}`,
      `  not rejoined    : ${notRejoined.join(', ') || 'none'}`,
      `  availability    : ${torture.problems.length === 0 ? 'a leader after every fault' : torture.problems.join('; ')}`,
      `  verdict         : ${verdict.result.verdict} (${verdict.result.operations} operations checked in ${Math.round(performance.now() - checkStarted)} ms)`,
      `  history         : ${join(options.out, 'history.jsonl')} (replay: kvctl check FILE); node logs in ${logDir}`,
    ];
    if (verdict.result.verdict !== 'linearizable') summary.push('', verdict.report);
    process.stdout.write(`${summary.join('\n')}\n`);
    writeFileSync(join(options.out, 'summary.txt'), `${summary.join('\n')}\n`);
    if (verdict.result.verdict === 'not-linearizable' || crashes.length > 0) return EXIT_UNSAFE;
    if (verdict.result.verdict !== 'linearizable' || notRejoined.length > 0 || torture.problems.length > 0) return EXIT_LIVENESS;
    return EXIT_OK;
  } finally {
    await workload?.stop();
    await cluster.stop();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`torture: error: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(EXIT_UNSAFE);
  },
);
