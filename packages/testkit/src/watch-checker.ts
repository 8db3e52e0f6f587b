/**
 * Checks recorded watch streams against what a writer did (issue 20's watch
 * guarantees). Input: the writer's changes (those it knows the revision of,
 * from its replies, and those whose outcome it never learned), and for each
 * logical watch the responses it received in order, across reconnections
 * (a resumed watch's responses appended to the earlier ones).
 *
 * Violations reported:
 * - ordered / unique: revisions strictly increase along a stream;
 * - atomic: a revision's events arrive in one response, all of those the
 *   watch selects (as the writer's reply or another watch saw them);
 * - reliable: every revision in [start, until] that changed a watched key
 *   (known from the writer or from any other watch) arrives;
 * - correct: an event's key, type and value match the writer's change at
 *   that revision; an event of a revision the writer never learned matches
 *   one of its unknown-outcome writes; watches agree on every revision;
 * - prevKv: when asked for, it is the key's value and mod revision just
 *   before (absent for a key created by the event).
 *
 * Values must be unique per put so that a change is identified by its value.
 */
import { type Event, EventType } from '@cairn/proto';

export interface WatchedChange {
  readonly key: string;
  readonly type: 'put' | 'delete';
  /** The value put (puts only). */
  readonly value?: string;
}

export interface WriterRecord {
  /** Changes with the revision the writer's reply named. */
  readonly known: ReadonlyArray<WatchedChange & { readonly revision: number }>;
  /** Changes whose outcome the writer never learned (applied or not). */
  readonly unknown: readonly WatchedChange[];
}

export interface RecordedWatch {
  readonly name: string;
  readonly key: string;
  readonly prefix: boolean;
  readonly prevKv: boolean;
  /** The first revision the watch asked for. */
  readonly startRevision: number;
  /** Every revision up to here must have been delivered (e.g. the writer's last revision). */
  readonly until: number;
  /** The event responses in the order received (empty ones may be left out). */
  readonly responses: ReadonlyArray<{ readonly events: readonly Event[] }>;
}

interface SeenEvent {
  readonly key: string;
  readonly type: 'put' | 'delete';
  readonly value?: string;
}

export function checkWatchStreams(writer: WriterRecord, watches: readonly RecordedWatch[]): string[] {
  const violations: string[] = [];
  // Every revision's changes, as the writer or a watch saw them: revision -> key -> change.
  const timeline = new Map<number, Map<string, SeenEvent>>();
  const note = (revision: number, change: SeenEvent, source: string): void => {
    let changes = timeline.get(revision);
    if (changes === undefined) timeline.set(revision, (changes = new Map()));
    const before = changes.get(change.key);
    if (before === undefined) changes.set(change.key, change);
    else if (before.type !== change.type || before.value !== change.value)
      violations.push(`${source}: revision ${revision} key ${change.key} is ${describe(change)}, elsewhere ${describe(before)}`);
  };
  for (const change of writer.known) note(change.revision, change, 'writer');
  const unknownPuts = new Set(writer.unknown.filter((c) => c.type === 'put').map((c) => `${c.key}=${c.value}`));
  const unknownDeletes = new Set(writer.unknown.filter((c) => c.type === 'delete').map((c) => c.key));
  const knownRevisions = new Set(writer.known.map((c) => c.revision));

  for (const watch of watches) {
    let last = 0;
    for (const [i, response] of watch.responses.entries()) {
      const inResponse = new Set<number>();
      for (const event of response.events) {
        const kv = event.kv;
        if (kv === undefined) {
          violations.push(`${watch.name}: response ${i} has an event without kv`);
          continue;
        }
        const revision = kv.modRevision;
        const seen = toSeen(event);
        if (!inResponse.has(revision)) {
          if (revision <= last) violations.push(`${watch.name}: revision ${revision} after ${last} (out of order or duplicate)`);
          inResponse.add(revision);
          last = Math.max(last, revision);
        }
        if (!matches(watch, seen.key)) violations.push(`${watch.name}: revision ${revision} key ${seen.key} is not watched`);
        if (revision < watch.startRevision)
          violations.push(`${watch.name}: revision ${revision} is before the start ${watch.startRevision}`);
        if (!knownRevisions.has(revision)) {
          const explained = seen.type === 'put' ? unknownPuts.has(`${seen.key}=${seen.value}`) : unknownDeletes.has(seen.key);
          if (!explained) violations.push(`${watch.name}: revision ${revision} ${describe(seen)} was never written`);
        }
        note(revision, seen, watch.name);
      }
    }
  }

  // The keys' values along the whole timeline, for completeness, atomicity and prevKv.
  const revisions = [...timeline.keys()].sort((a, b) => a - b);
  const state = new Map<string, { value: string; modRevision: number }>();
  const before = new Map<number, Map<string, { value: string; modRevision: number } | undefined>>();
  for (const revision of revisions) {
    const prior = new Map<string, { value: string; modRevision: number } | undefined>();
    for (const [key, change] of timeline.get(revision)!) {
      prior.set(key, state.get(key));
      if (change.type === 'put') state.set(key, { value: change.value ?? '', modRevision: revision });
      else state.delete(key);
    }
    before.set(revision, prior);
  }

  for (const watch of watches) {
    const received = new Map<number, { response: number; events: Event[] }>();
    for (const [i, response] of watch.responses.entries())
      for (const event of response.events) {
        const revision = event.kv?.modRevision ?? 0;
        const entry = received.get(revision);
        if (entry === undefined) received.set(revision, { response: i, events: [event] });
        else {
          if (entry.response !== i) violations.push(`${watch.name}: revision ${revision} is split across responses`);
          entry.events.push(event);
        }
      }
    for (const revision of revisions) {
      if (revision < watch.startRevision || revision > watch.until) continue;
      const expected = [...timeline.get(revision)!.values()].filter((c) => matches(watch, c.key));
      if (expected.length === 0) continue;
      const got = received.get(revision);
      if (got === undefined) {
        violations.push(`${watch.name}: revision ${revision} (${expected.map(describe).join(', ')}) is missing`);
        continue;
      }
      if (got.events.length !== expected.length)
        violations.push(`${watch.name}: revision ${revision} has ${got.events.length} events, expected ${expected.length} (not atomic)`);
      for (const event of got.events) {
        const key = event.kv!.key.toString();
        const prior = before.get(revision)!.get(key);
        if (!watch.prevKv) {
          if (event.prevKv !== undefined) violations.push(`${watch.name}: revision ${revision} key ${key} has a prevKv not asked for`);
        } else if (prior === undefined) {
          if (event.prevKv !== undefined) violations.push(`${watch.name}: revision ${revision} key ${key} was new but has a prevKv`);
        } else if (event.prevKv === undefined) {
          violations.push(`${watch.name}: revision ${revision} key ${key} has no prevKv (expected ${prior.value}@${prior.modRevision})`);
        } else if (event.prevKv.value.toString() !== prior.value || event.prevKv.modRevision !== prior.modRevision) {
          violations.push(
            `${watch.name}: revision ${revision} key ${key} prevKv ${event.prevKv.value.toString()}@${event.prevKv.modRevision}, ` +
              `expected ${prior.value}@${prior.modRevision}`,
          );
        }
      }
    }
  }
  return violations;
}

function toSeen(event: Event): SeenEvent {
  const key = event.kv!.key.toString();
  return event.type === EventType.DELETE ? { key, type: 'delete' } : { key, type: 'put', value: event.kv!.value.toString() };
}

function matches(watch: RecordedWatch, key: string): boolean {
  return watch.prefix ? key.startsWith(watch.key) : key === watch.key;
}

function describe(change: SeenEvent): string {
  return change.type === 'put' ? `put ${change.key}=${change.value}` : `delete ${change.key}`;
}
