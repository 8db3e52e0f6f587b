/**
 * What one watch asks for (key or prefix, start revision, prev_kv, filters,
 * progress notifications), validated from a WatchCreateRequest or the HTTP
 * query, and the selection of a revision's events that such a watch gets.
 */
import { type Event, EventType, type WatchCreateRequest, WatchFilter } from '@cairn/proto';
import { InvalidArgumentError, KeyTooLargeError } from '../errors.js';
import type { KeyMatch, RevisionEvents } from '../state-machine/ports.js';

export interface WatchSpec {
  readonly match: KeyMatch;
  /** The first revision to send (0 = the next one the store applies). */
  readonly startRevision: number;
  readonly prevKv: boolean;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  readonly progressNotify: boolean;
}

/** Throws InvalidArgumentError / KeyTooLargeError naming the field. */
export function validateWatchCreate(request: WatchCreateRequest, keyBytesMax: number): WatchSpec {
  const key = Buffer.from(request.key.buffer, request.key.byteOffset, request.key.length);
  if (key.length === 0 && !request.prefix) throw new InvalidArgumentError('key must not be empty (set prefix to watch every key)');
  if (key.length > keyBytesMax) throw new KeyTooLargeError(key.length, keyBytesMax);
  if (!Number.isSafeInteger(request.startRevision) || request.startRevision < 0)
    throw new InvalidArgumentError('start_revision must be a non-negative integer');
  if (!Number.isSafeInteger(request.watchId) || request.watchId < 0)
    throw new InvalidArgumentError('watch_id must be a non-negative integer (0 = the node picks one)');
  let noPut = false;
  let noDelete = false;
  for (const filter of request.filters) {
    if (filter === WatchFilter.NOPUT) noPut = true;
    else if (filter === WatchFilter.NODELETE) noDelete = true;
    else if (filter !== WatchFilter.NONE) throw new InvalidArgumentError(`unknown watch filter ${String(filter)}`);
  }
  return {
    match: { key, prefix: request.prefix },
    startRevision: request.startRevision,
    prevKv: request.prevKv,
    noPut,
    noDelete,
    progressNotify: request.progressNotify,
  };
}

export function keyMatches(match: KeyMatch, key: Buffer): boolean {
  if (!match.prefix) return key.equals(match.key);
  return key.length >= match.key.length && match.key.compare(key, 0, match.key.length) === 0;
}

/**
 * The revisions a watch gets out of `revisions`: only its events (key,
 * filters), prevKv dropped unless asked, revisions left empty omitted. A
 * revision is never split: its selected events stay together.
 */
export function selectEvents(spec: WatchSpec, revisions: readonly RevisionEvents[]): RevisionEvents[] {
  const selected: RevisionEvents[] = [];
  for (const { revision, events } of revisions) {
    let chosen: Event[] | undefined;
    for (const event of events) {
      if (event.kv === undefined || !keyMatches(spec.match, event.kv.key)) continue;
      if (event.type === EventType.PUT ? spec.noPut : spec.noDelete) continue;
      (chosen ??= []).push(spec.prevKv || event.prevKv === undefined ? event : { type: event.type, kv: event.kv });
    }
    if (chosen !== undefined) selected.push({ revision, events: chosen });
  }
  return selected;
}

/** Roughly the bytes a response carrying `revisions` holds (what the per-watch buffer bound counts). */
export function revisionsBytes(revisions: readonly RevisionEvents[]): number {
  let bytes = 0;
  for (const { events } of revisions) {
    for (const event of events) {
      bytes += 32;
      if (event.kv !== undefined) bytes += event.kv.key.length + event.kv.value.length + 48;
      if (event.prevKv !== undefined) bytes += event.prevKv.key.length + event.prevKv.value.length + 48;
    }
  }
  return bytes;
}
