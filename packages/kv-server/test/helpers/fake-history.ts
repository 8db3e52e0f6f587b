/**
 * A HistoryReader over an in-memory list of revisions, for testing the watch
 * hub without a state machine: apply() makes revisions (with prevKv from its
 * own model) and announces them; reads can be held at a gate to open the
 * race between a history read and live revisions.
 */
import { type Event, EventType, type KeyValue } from '@cairn/proto';
import { CompactedError } from '../../src/errors.js';
import type { HistoryReader, KeyMatch, RevisionEvents } from '../../src/state-machine/ports.js';
import { keyMatches } from '../../src/watch/watch-spec.js';

export class FakeHistory implements HistoryReader {
  readonly revisions: RevisionEvents[] = [];
  compacted = 0;
  reads = 0;
  /** While set, eventsBetween waits for it. */
  gate: Promise<void> | undefined;
  private readonly listeners = new Set<(revisions: readonly RevisionEvents[]) => void>();
  private readonly model = new Map<string, KeyValue>();
  private current = 0;

  revision(): number {
    return this.current;
  }

  compactRevision(): number {
    return this.compacted;
  }

  async eventsBetween(from: number, to: number, match: KeyMatch, maxEvents: number): Promise<RevisionEvents[]> {
    this.reads++;
    if (this.gate !== undefined) await this.gate;
    if (from < this.compacted) throw new CompactedError(from, this.compacted);
    const out: RevisionEvents[] = [];
    let count = 0;
    for (const { revision, events } of this.revisions) {
      if (revision < from || revision > to) continue;
      const mine = events.filter((e) => keyMatches(match, e.kv!.key));
      if (mine.length === 0) continue;
      out.push({ revision, events: mine });
      count += mine.length;
      if (count >= maxEvents) break;
    }
    return out;
  }

  onApplied(listener: (revisions: readonly RevisionEvents[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** One revision per element (key -> value, null = delete), all announced in one batch. */
  apply(...revisions: Array<Record<string, string | null>>): RevisionEvents[] {
    const batch = revisions.map((changes) => this.make(changes));
    this.announce(batch);
    return batch;
  }

  /** Makes a revision without announcing it (as a snapshot install would skip it). */
  make(changes: Record<string, string | null>): RevisionEvents {
    const revision = ++this.current;
    const events: Event[] = [];
    for (const [name, value] of Object.entries(changes)) {
      const key = Buffer.from(name);
      const previous = this.model.get(name);
      if (value === null) {
        if (previous === undefined) continue;
        this.model.delete(name);
        events.push({
          type: EventType.DELETE,
          kv: { ...previous, value: Buffer.alloc(0), modRevision: revision, version: 0 },
          prevKv: previous,
        });
      } else {
        const kv: KeyValue = {
          key,
          value: Buffer.from(value),
          version: (previous?.version ?? 0) + 1,
          createIndex: 0,
          modIndex: 0,
          createRevision: previous?.createRevision ?? revision,
          modRevision: revision,
          lease: 0,
        };
        this.model.set(name, kv);
        events.push({ type: EventType.PUT, kv, prevKv: previous });
      }
    }
    const made = { revision, events };
    this.revisions.push(made);
    return made;
  }

  announce(batch: readonly RevisionEvents[]): void {
    for (const listener of this.listeners) listener(batch);
  }
}
