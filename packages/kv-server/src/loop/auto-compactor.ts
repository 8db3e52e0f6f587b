/**
 * Keeps the history (state-machine/history.ts) within its bounds: the leader
 * proposes Compact when the retained revisions exceed --history-revisions by
 * a tenth (so it compacts in steps, not after every write), compacting to
 * keep exactly that many, or when LevelDB's estimate of the history's bytes
 * exceeds --history-bytes, compacting away the older half. Followers never
 * propose; the compaction itself is a replicated command every node applies.
 *
 * The revision bound is checked after every applied batch (cheap); the byte
 * estimate on a timer. One proposal at a time; a failed one (not leader any
 * more, or already compacted by another) is simply retried by a later check.
 */
import type { Logger } from '../logger.js';

export interface AutoCompactorDeps {
  readonly isLeader: () => boolean;
  readonly revision: () => number;
  readonly compactRevision: () => number;
  /** LevelDB's estimate of the history's bytes on disk. */
  readonly historyBytes: () => Promise<number>;
  /** Proposes Compact{revision}; settles once applied (or failed). */
  readonly compact: (revision: number) => Promise<unknown>;
  /** Subscribes to applied batches; returns an unsubscribe. */
  readonly onApplied: (listener: () => void) => () => void;
  readonly historyRevisions: number;
  readonly historyBytesMax: number;
  /** How often the byte estimate is checked. */
  readonly bytesCheckMs: number;
  readonly logger: Logger;
}

export class AutoCompactor {
  private proposing = false;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly deps: AutoCompactorDeps) {}

  start(): void {
    this.unsubscribe ??= this.deps.onApplied(() => this.checkRevisions());
    this.timer ??= setInterval(() => void this.checkBytes(), this.deps.bytesCheckMs);
    this.timer.unref();
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The revision to compact to for the revision bound, if it is exceeded. */
  private revisionTarget(): number | undefined {
    const { historyRevisions } = this.deps;
    const retained = this.deps.revision() - this.deps.compactRevision();
    const slack = Math.max(1, Math.floor(historyRevisions / 10));
    return retained > historyRevisions + slack ? this.deps.revision() - historyRevisions : undefined;
  }

  private checkRevisions(): void {
    if (this.proposing || !this.deps.isLeader()) return;
    const target = this.revisionTarget();
    if (target !== undefined) this.propose(target, 'history-revisions');
  }

  private async checkBytes(): Promise<void> {
    if (this.proposing || !this.deps.isLeader()) return;
    const bytes = await this.deps.historyBytes().catch(() => 0);
    if (bytes <= this.deps.historyBytesMax) return;
    const compacted = this.deps.compactRevision();
    const target = compacted + Math.ceil((this.deps.revision() - compacted) / 2);
    if (target > compacted && !this.proposing) this.propose(target, 'history-bytes');
  }

  private propose(revision: number, reason: string): void {
    this.proposing = true;
    this.deps.logger.debug('history-compact', { revision, reason });
    this.deps
      .compact(revision)
      .catch((error: unknown) => this.deps.logger.debug('history-compact-failed', { revision, error }))
      .finally(() => {
        // The next applied batch checks again (not here: a proposal that fails
        // at once would spin).
        this.proposing = false;
      });
  }
}
