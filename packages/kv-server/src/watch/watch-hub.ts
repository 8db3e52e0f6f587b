/**
 * The node's watches, fed by the state machine's applied revisions and, for
 * the past, by its retained history (HistoryReader). Served by any member
 * from its own applied state.
 *
 * Guarantees, per watch (what test/watch-hub.test.ts and the cluster tests check):
 * - Ordered: revisions are sent in increasing order.
 * - Unique: no revision is sent twice.
 * - Reliable: no gap; every revision >= the start revision that changed a
 *   watched key (after filters) is sent, unless the watch is cancelled.
 * - Atomic: all of a revision's selected events go in one output call (one
 *   response); a revision is never split.
 * - Resumable: a watch may start at any revision >= the compacted one
 *   (past revisions replayed from history, a future one waits). A start
 *   below it, or a catch-up that falls below it, cancels the watch with
 *   COMPACTED and the compact revision.
 * - Progress: a progress notice names a revision R such that every selected
 *   event up to R has been sent before it.
 *
 * How (as etcd's watchable store): each watch tracks `next`, the first
 * revision it has not been given. A "synced" watch has next > the last
 * applied revision and gets live revisions straight from onApplied. A
 * "catching up" watch (its start is in the past, or its client reads too
 * slowly) ignores live revisions and reads [next, last applied] from history
 * in bounded chunks, one chunk at a time and only while its output takes
 * more; it joins the synced set in the same synchronous step that finds
 * next > last applied, so no live revision falls between the two. A slow
 * client therefore costs at most its output's bound plus one chunk of
 * memory, never a queue of every change.
 */
import { CompactedError } from '../errors.js';
import type { Logger } from '../logger.js';
import { WATCH_CATCH_UP_BYTES, WATCH_CATCH_UP_EVENTS, WATCH_PROGRESS_INTERVAL_MS } from '../limits.js';
import type { HistoryReader, RevisionEvents } from '../state-machine/ports.js';
import { revisionsBytes, selectEvents, type WatchSpec } from './watch-spec.js';

/** Why the hub ended a watch (a stable code, as cancel_code). */
export interface WatchCancel {
  readonly code: 'COMPACTED' | 'SHUTTING_DOWN' | 'INTERNAL';
  readonly reason: string;
  readonly compactRevision?: number;
}

/** Where one watch's output goes; the hub never calls it synchronously from watch(). */
export interface WatchOutput {
  /** Whole revisions selected for this watch, in order, never empty. False = past its buffer bound. */
  events(revisions: readonly RevisionEvents[]): boolean;
  /** Every selected event up to `revision` has been sent. */
  progress(revision: number): void;
  /** The hub ended the watch; nothing follows. */
  cancelled(cancel: WatchCancel): void;
  /** Resolves when the output takes more (nothing queued). */
  writable(): Promise<void>;
  /** True while something of this watch waits to be sent. */
  busy(): boolean;
}

export interface WatchHandle {
  /** The revision a created response names: every event up to it that this watch wants has been sent (none yet). */
  readonly createdRevision: number;
  /** Asks for a progress notice now (a WatchProgressRequest). */
  requestProgress(): void;
  /** Ends the watch; its output gets nothing more. */
  cancel(): void;
}

export interface WatchHubOptions {
  logger?: Logger;
  catchUpEvents?: number;
  catchUpBytes?: number;
  progressIntervalMs?: number;
}

/** The first history read of a watch asks for this many events at most: values may be large. */
const FIRST_CHUNK_EVENTS = 64;

class Watcher {
  done = false;
  /** Watches with the same signature select the same events (fan-out: select once per batch). */
  readonly signature: string;
  /** Events the next history read asks for (adapted to the events' size). */
  chunkEvents = FIRST_CHUNK_EVENTS;
  constructor(
    readonly spec: WatchSpec,
    readonly output: WatchOutput,
    /** The first revision this watch has not been given. */
    public next: number,
  ) {
    const { match, prevKv, noPut, noDelete } = spec;
    this.signature = `${match.prefix ? 'p' : 'k'}${prevKv ? 1 : 0}${noPut ? 1 : 0}${noDelete ? 1 : 0}:${match.key.toString('latin1')}`;
  }
}

export class WatchHub {
  /** The last revision onApplied delivered (in LevelDB, so history has it). */
  private current: number;
  private readonly synced = new Set<Watcher>();
  private readonly catchingUp = new Set<Watcher>();
  private readonly unsubscribe: () => void;
  private readonly progressTimer: NodeJS.Timeout;
  private readonly catchUpEvents: number;
  private readonly catchUpBytes: number;
  private closed = false;
  /** Events handed to outputs (the events-sent counter). */
  eventsSent = 0;

  constructor(
    private readonly history: HistoryReader,
    private readonly options: WatchHubOptions = {},
  ) {
    this.current = history.revision();
    this.catchUpEvents = options.catchUpEvents ?? WATCH_CATCH_UP_EVENTS;
    this.catchUpBytes = options.catchUpBytes ?? WATCH_CATCH_UP_BYTES;
    this.unsubscribe = history.onApplied((revisions) => this.applied(revisions));
    this.progressTimer = setInterval(() => this.notifyProgress(), options.progressIntervalMs ?? WATCH_PROGRESS_INTERVAL_MS);
    this.progressTimer.unref();
  }

  /** The last revision applied and announced here. */
  revision(): number {
    return this.current;
  }

  /** Open watches. */
  count(): number {
    return this.synced.size + this.catchingUp.size;
  }

  watch(spec: WatchSpec, output: WatchOutput): WatchHandle {
    const next = spec.startRevision === 0 ? this.current + 1 : spec.startRevision;
    const watcher = new Watcher(spec, output, next);
    const createdRevision = Math.min(next - 1, this.current);
    if (this.closed) {
      queueMicrotask(() => output.cancelled(shuttingDown()));
    } else if (next > this.current) {
      this.synced.add(watcher);
    } else {
      this.startCatchUp(watcher);
    }
    return {
      createdRevision,
      requestProgress: () => {
        if (!watcher.done) output.progress(Math.min(watcher.next - 1, this.current));
      },
      cancel: () => this.remove(watcher),
    };
  }

  /** Ends every watch with SHUTTING_DOWN and stops listening. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    clearInterval(this.progressTimer);
    for (const watcher of [...this.synced, ...this.catchingUp]) this.end(watcher, shuttingDown());
  }

  private applied(batch: readonly RevisionEvents[]): void {
    if (this.closed) return;
    let revisions = batch;
    if (revisions[0] !== undefined && revisions[0].revision <= this.current) revisions = revisions.filter((r) => r.revision > this.current);
    const first = revisions[0];
    if (first === undefined) return;
    if (first.revision !== this.current + 1) {
      // Revisions skipped (a snapshot was installed): whoever needed them reads history (or learns it is compacted).
      for (const watcher of this.synced) if (watcher.next < first.revision) this.startCatchUp(watcher);
    }
    this.current = revisions[revisions.length - 1]!.revision;
    if (this.synced.size === 0) return;
    const shared = new Map<string, RevisionEvents[]>();
    for (const watcher of this.synced) {
      const from = watcher.next;
      watcher.next = Math.max(from, this.current + 1);
      let selected: RevisionEvents[];
      if (from <= first.revision) {
        const cached = shared.get(watcher.signature);
        selected = cached ?? selectEvents(watcher.spec, revisions);
        if (cached === undefined) shared.set(watcher.signature, selected);
      } else {
        selected = selectEvents(
          watcher.spec,
          revisions.filter((r) => r.revision >= from),
        );
      }
      if (selected.length === 0) continue;
      this.eventsSent += eventCount(selected);
      // Taken but past the bound: stop feeding it live, it catches up from history once its client reads.
      if (!watcher.output.events(selected)) this.startCatchUp(watcher);
    }
  }

  private startCatchUp(watcher: Watcher): void {
    this.synced.delete(watcher);
    this.catchingUp.add(watcher);
    this.catchUp(watcher).catch((error: unknown) => {
      if (watcher.done) return;
      this.options.logger?.warn('watch-catch-up-failed', { error, next: watcher.next });
      this.end(watcher, { code: 'INTERNAL', reason: `reading the history failed: ${(error as Error).message}` });
    });
  }

  private async catchUp(watcher: Watcher): Promise<void> {
    for (;;) {
      await watcher.output.writable();
      if (watcher.done) return;
      const to = this.current;
      if (watcher.next > to) {
        // Synchronously with the check: the next live revision (to + 1) goes to it as synced.
        this.catchingUp.delete(watcher);
        this.synced.add(watcher);
        return;
      }
      const compacted = this.history.compactRevision();
      if (watcher.next < compacted) return this.end(watcher, compactedCancel(watcher.next, compacted));
      const chunkEvents = Math.min(watcher.chunkEvents, this.catchUpEvents);
      let revisions: RevisionEvents[];
      try {
        revisions = await this.history.eventsBetween(watcher.next, to, watcher.spec.match, chunkEvents);
      } catch (error) {
        if (watcher.done) return;
        if (error instanceof CompactedError) return this.end(watcher, compactedCancel(watcher.next, error.compactRevision));
        throw error;
      }
      if (watcher.done) return;
      // A read that reached the event bound may have stopped early; otherwise it covered all of [next, to].
      const count = eventCount(revisions);
      const full = count >= chunkEvents && revisions.length > 0;
      if (count > 0) watcher.chunkEvents = Math.max(1, Math.floor(this.catchUpBytes / (revisionsBytes(revisions) / count)));
      const last = full ? revisions[revisions.length - 1]!.revision : to;
      if (last < watcher.next || last > to) throw new Error(`history answered revision ${last} outside [${watcher.next}, ${to}]`);
      const selected = selectEvents(watcher.spec, revisions);
      watcher.next = last + 1;
      if (selected.length > 0) {
        this.eventsSent += eventCount(selected);
        watcher.output.events(selected);
      }
    }
  }

  private notifyProgress(): void {
    for (const watcher of this.synced)
      if (watcher.spec.progressNotify && !watcher.output.busy()) watcher.output.progress(Math.min(watcher.next - 1, this.current));
  }

  private remove(watcher: Watcher): void {
    watcher.done = true;
    this.synced.delete(watcher);
    this.catchingUp.delete(watcher);
  }

  private end(watcher: Watcher, cancel: WatchCancel): void {
    if (watcher.done) return;
    this.remove(watcher);
    watcher.output.cancelled(cancel);
  }
}

function eventCount(revisions: readonly RevisionEvents[]): number {
  let count = 0;
  for (const { events } of revisions) count += events.length;
  return count;
}

function compactedCancel(revision: number, compactRevision: number): WatchCancel {
  return {
    code: 'COMPACTED',
    reason: `revision ${revision} is compacted (the oldest readable revision is ${compactRevision})`,
    compactRevision,
  };
}

function shuttingDown(): WatchCancel {
  return { code: 'SHUTTING_DOWN', reason: 'the node is shutting down' };
}
