/**
 * The apply chain: committed entries are applied to the state machine in
 * order while the loop's next turns persist newer entries (etcd's pipelined
 * apply), and each write's proposal is settled with its result.
 *
 * Writes are answered once their results are known, before the apply batch
 * reaches LevelDB (the state machine serves reads from that batch: the
 * `answered` index). Linearizable reads still wait for the applied index,
 * which moves only after the write.
 */
import { assert, type Entry, EntryType } from '@cairn/proto';
import type { AppliedResult, LoopStateMachine, StagedWrite } from './ports.js';

/** Where a proposal's outcome goes (ProposalTracker.settle). */
export interface ProposalSettler {
  settle(index: number, term: number, outcome: { value: AppliedResult | undefined } | { error: Error }, lost: () => Error): void;
}

export interface ApplierOptions {
  readonly stateMachine: Pick<LoopStateMachine, 'applyEntries'>;
  readonly proposals: ProposalSettler;
  /** The error of a proposal whose index another leader's entry took. */
  readonly lost: () => Error;
  /** A committed conf change: apply it to raft and the membership; returns the membership write to land with the entry. */
  readonly changeMembership: (entry: Entry) => StagedWrite;
  /** Reads now see entries up to `readableIndex` (a batch was answered or applied). */
  readonly readable: (readableIndex: number) => void;
  /** A batch up to `index` is applied; the state machine now matches it. */
  readonly applied: (index: number) => void;
  /** The chain failed: the node cannot go on. */
  readonly failed: (error: unknown) => void;
  readonly stopped: () => boolean;
  readonly initialIndex: number;
}

export class Applier {
  private appliedIndex: number;
  /** The last entry of the latest apply batch whose results reads already see (before appliedIndex moves). */
  private answeredIndex = 0;
  /** The end of the chain: resolves when every handed-out committed entry is applied. */
  private tail: Promise<void> = Promise.resolve();
  private batchesInFlight = 0;

  constructor(private readonly options: ApplierOptions) {
    this.appliedIndex = options.initialIndex;
  }

  get applied(): number {
    return this.appliedIndex;
  }

  /**
   * Every entry up to this index is visible to reads on this node: the
   * applied index, or the last entry of an apply batch that is answered but
   * not yet written.
   */
  get readableIndex(): number {
    return Math.max(this.appliedIndex, this.answeredIndex);
  }

  /** Batches handed to the chain and not yet applied. */
  get inFlight(): number {
    return this.batchesInFlight;
  }

  /** Resolves once every entry handed out so far is applied. */
  drained(): Promise<void> {
    return this.tail;
  }

  /** Queues committed entries on the chain; the promise settles when they are applied. */
  enqueue(entries: readonly Entry[]): Promise<void> {
    assert(entries.length > 0, 'an apply batch holds entries');
    this.batchesInFlight += 1;
    const last = entries[entries.length - 1]!.index;
    const run = this.tail.then(async () => {
      if (this.options.stopped()) return;
      await this.apply(entries);
      this.options.applied(last);
    });
    this.tail = run.then(
      () => {
        this.batchesInFlight -= 1;
      },
      (error: unknown) => {
        this.batchesInFlight -= 1;
        this.options.failed(error);
      },
    );
    return run;
  }

  /** A leader's snapshot replaced the state machine at `index`. */
  restoredTo(index: number): void {
    assert(this.batchesInFlight === 0, 'a snapshot is restored with the apply chain drained');
    this.appliedIndex = index;
  }

  private async apply(entries: readonly Entry[]): Promise<void> {
    let batch: Entry[] = [];
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      const commands = batch;
      batch = [];
      await this.options.stateMachine.applyEntries(commands, undefined, (results) => this.answer(commands, results));
    };
    for (const entry of entries) {
      if (entry.type === EntryType.CONF_CHANGE) {
        await flush();
        await this.applyConfChange(entry);
      } else {
        batch.push(entry);
      }
    }
    await flush();
    this.appliedIndex = entries[entries.length - 1]!.index;
  }

  /** A batch's results are final: settle its proposals, and let reads see it. */
  private answer(entries: readonly Entry[], results: readonly AppliedResult[]): void {
    const first = entries[0]!.index;
    for (const r of results) {
      // Batches hold consecutive indexes, so the entry is at a fixed offset.
      const entry = entries[r.index - first]!;
      const outcome = r.result instanceof Error ? { error: r.result } : { value: r };
      this.options.proposals.settle(r.index, entry.term, outcome, this.options.lost);
    }
    this.answeredIndex = entries[entries.length - 1]!.index;
    this.options.readable(this.readableIndex);
  }

  private async applyConfChange(entry: Entry): Promise<void> {
    // The new membership and the applied index that covers it land in one batch.
    await this.options.stateMachine.applyEntries([entry], this.options.changeMembership(entry));
    this.options.proposals.settle(entry.index, entry.term, { value: undefined }, this.options.lost);
  }
}
