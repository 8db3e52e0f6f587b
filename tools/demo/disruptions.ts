/**
 * What the demo does to the cluster while the clerks work: leader preemption
 * (transfer to a random voter), injected faults on random nodes (partition,
 * message drops, delays; each heals itself), and a membership cycle (start a
 * spare node empty, add it as a learner, promote it once caught up, later
 * remove it and stop it). Each action is one log line with its latency.
 */
import type { Clerk, MembersResponse } from '@cairn/clerk';
import type { FaultSpec } from '@cairn/clerk/testing';
import type { ActionLog } from './action-log.js';
import type { DemoNode } from './node-process.js';

const TRANSFER_EVERY_MS = 5_000;
const FAULT_EVERY_MS = 3_000;
const MEMBERSHIP_IDLE_MS = 3_000;
const SPARE_HOLD_MS = 6_000;
const PROMOTE_DEADLINE_MS = 20_000;
const RETRY_PAUSE_MS = 250;
const ADMIN_DEADLINE_MS = 6_000;

export class MembershipTimeoutError extends Error {
  readonly code = 'MEMBERSHIP_TIMEOUT';
  constructor() {
    super('the membership change did not take effect in time');
    this.name = 'MembershipTimeoutError';
  }
}

export interface DisruptionDeps {
  readonly admin: Clerk;
  readonly log: ActionLog;
  /** Nodes whose process is running now. */
  runningNodes(): DemoNode[];
  /** Starts an empty node with this id (--join); it is not a member yet. */
  launchSpare(id: number): Promise<DemoNode>;
  /** Stops a removed spare (SIGTERM) and wipes its data; resolves with its exit code. */
  retireSpare(node: DemoNode): Promise<number | null>;
}

export interface DisruptionCounts {
  transfers: { ok: number; failed: number };
  faults: { ok: number; failed: number };
  membershipCycles: { ok: number; failed: number };
}

export interface DisruptionPlan {
  readonly transfers: boolean;
  readonly faults: boolean;
  readonly membership: boolean;
  /** Id of the first spare node; each cycle uses a new id. */
  readonly firstSpareId: number;
}

export class Disruptions {
  readonly counts: DisruptionCounts = {
    transfers: { ok: 0, failed: 0 },
    faults: { ok: 0, failed: 0 },
    membershipCycles: { ok: 0, failed: 0 },
  };
  private readonly stopping = new AbortController();
  private loops: Array<Promise<void>> = [];

  constructor(
    private readonly deps: DisruptionDeps,
    private readonly plan: DisruptionPlan,
  ) {}

  start(): void {
    if (this.plan.transfers) this.loops.push(this.every(TRANSFER_EVERY_MS, () => this.preemptLeader()));
    if (this.plan.faults) this.loops.push(this.every(FAULT_EVERY_MS, () => this.injectFault()));
    if (this.plan.membership) this.loops.push(this.membershipLoop());
  }

  /** Ends the loops after their current step; a spare left running is stopped with the cluster. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await Promise.all(this.loops);
    this.loops = [];
  }

  private get stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  private async every(intervalMs: number, action: () => Promise<void>): Promise<void> {
    while (!this.stopped) {
      await this.pause(intervalMs);
      if (!this.stopped) await action();
    }
  }

  /** Waits `ms`, or less when the demo stops (this paces actions; it does not synchronise anything). */
  private pause(ms: number): Promise<void> {
    const signal = this.stopping.signal;
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      function done(): void {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
    });
  }

  private async preemptLeader(): Promise<void> {
    const { admin, log } = this.deps;
    const status = await admin.status({ deadlineMs: 2_000 }).catch(() => undefined);
    if (status === undefined || status.leaderId === 0) {
      log.note('transfer-leader skipped: no leader known right now');
      return;
    }
    const running = new Set(this.deps.runningNodes().map((node) => node.id));
    const candidates = status.members.filter((member) => !member.learner && member.id !== status.leaderId && running.has(member.id));
    const target = pick(candidates);
    if (target === undefined) return;
    const moved = await log.timed('transfer-leader', `${status.leaderId}→${target.id}`, () =>
      admin.transferLeader(target.id, { deadlineMs: ADMIN_DEADLINE_MS }),
    );
    this.counts.transfers[moved === undefined ? 'failed' : 'ok'] += 1;
  }

  private async injectFault(): Promise<void> {
    const node = pick(this.deps.runningNodes());
    if (node === undefined) return;
    const fault = pick<FaultSpec>([
      { kind: 'partition', durationMs: 2_000 },
      { kind: 'drop', dropRate: 0.3, durationMs: 3_000 },
      { kind: 'delay', delayMs: 20 + Math.floor(Math.random() * 80), durationMs: 3_000 },
    ])!;
    const what = fault.kind === 'drop' ? `drop 30%` : fault.kind === 'delay' ? `delay ${fault.delayMs} ms` : 'partition';
    const done = await this.deps.log.timed('fault', `${what} on node ${node.id} for ${(fault.durationMs ?? 0) / 1000} s`, async () => {
      await this.deps.admin.injectFault(fault, { endpoint: node.spec.grpcAddress, deadlineMs: 2_000 });
      return true;
    });
    this.counts.faults[done === undefined ? 'failed' : 'ok'] += 1;
  }

  private async membershipLoop(): Promise<void> {
    for (let id = this.plan.firstSpareId; !this.stopped; id++) {
      await this.pause(MEMBERSHIP_IDLE_MS);
      if (this.stopped) return;
      const outcome = await this.membershipCycle(id);
      if (outcome === 'stuck') {
        this.deps.log.note(`membership cycle paused: node ${id} could not be removed; it keeps running`);
        return;
      }
      if (outcome !== 'aborted') this.counts.membershipCycles[outcome === 'ok' ? 'ok' : 'failed'] += 1;
    }
  }

  /** One spare's life: start, add as learner, promote, hold, remove, stop. */
  private async membershipCycle(id: number): Promise<'ok' | 'failed' | 'stuck' | 'aborted'> {
    const { admin, log } = this.deps;
    const node = await log.timed('start-node', `${id} (empty, --join)`, () => this.deps.launchSpare(id));
    if (node === undefined) return 'failed';
    if (this.stopped) return this.retire(node, 'aborted');
    const { grpcAddress, httpAddress } = node.spec;
    const member = { id, peerAddress: grpcAddress, clientAddress: grpcAddress, httpAddress };
    const added = await log.timed('add-learner', `node ${id}`, () =>
      this.untilDone(
        () => admin.addLearner(member, { deadlineMs: ADMIN_DEADLINE_MS }),
        (m) => m.members.some((x) => x.id === id),
      ),
    );
    if (added === undefined || this.stopped) return this.retire(node, added === undefined ? 'failed' : 'aborted');
    const promoted = await log.timed('promote', `node ${id} (waits until caught up)`, () =>
      this.untilDone(
        () => admin.promote(id, { deadlineMs: ADMIN_DEADLINE_MS }),
        (m) => m.members.some((x) => x.id === id && !x.learner),
      ),
    );
    if (promoted !== undefined) await this.pause(SPARE_HOLD_MS);
    const removed = await log.timed('remove-member', `node ${id}`, () =>
      this.untilDone(
        () => admin.removeMember(id, { deadlineMs: ADMIN_DEADLINE_MS }),
        (m) => !m.members.some((x) => x.id === id),
      ),
    );
    if (removed === undefined) return 'stuck';
    return this.retire(node, promoted === undefined ? 'failed' : 'ok');
  }

  private async retire<T extends string>(node: DemoNode, outcome: T): Promise<T> {
    await this.deps.log.timed(
      'stop-node',
      `${node.id}`,
      () => this.deps.retireSpare(node),
      (code) => `(exit ${code ?? 'signal'})`,
    );
    return outcome;
  }

  /**
   * Repeats a membership call until the membership shows it done: an
   * unknown outcome or a lost leader is settled by reading the members;
   * FAILED_PRECONDITION (learner not caught up) is retried until the deadline.
   */
  private async untilDone(call: () => Promise<MembersResponse>, done: (members: MembersResponse) => boolean): Promise<MembersResponse> {
    const deadline = performance.now() + PROMOTE_DEADLINE_MS;
    for (;;) {
      let lastError: unknown;
      try {
        const response = await call();
        if (done(response)) return response;
      } catch (error) {
        lastError = error;
        const members = await this.deps.admin.members({ deadlineMs: 2_000 }).catch(() => undefined);
        if (members !== undefined && done(members)) return members;
      }
      if (this.stopped || performance.now() > deadline) throw lastError ?? new MembershipTimeoutError();
      await this.pause(RETRY_PAUSE_MS);
    }
  }
}

function pick<T>(items: readonly T[]): T | undefined {
  return items.length === 0 ? undefined : items[Math.floor(Math.random() * items.length)];
}
