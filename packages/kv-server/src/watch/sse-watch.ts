/**
 * A watch over HTTP as Server-Sent Events: `GET /watch/<key>?prefix=1&rev=N&prev_kv=1`
 * (the key percent-encoded as in `/kv/<key>`; `prefix=1` with an empty key
 * watches every key; `encoding=base64` sends keys and values in base64
 * instead of UTF-8). The response is `text/event-stream`:
 *
 *   retry: 1000
 *   : created <R>                     (every wanted event up to R was sent: none yet)
 *
 *   id: <revision>
 *   data: {"revision":<revision>,"events":[{"type":"PUT"|"DELETE","key":..,"value":..,
 *          "version":..,"createRevision":..,"modRevision":..,"lease":..,"prevKv":{..}?}]}
 *
 *   : progress <R>                    (every ~10 s: everything up to R was sent)
 *
 *   event: cancel
 *   data: {"code":"COMPACTED"|"SHUTTING_DOWN"|"INTERNAL","reason":..,"compactRevision":..}
 *
 * One SSE event per revision, with all of that revision's events; revisions
 * in order, none twice, none missing (the hub's guarantees). A reconnect
 * with `Last-Event-ID: <revision>` (what EventSource sends) resumes at the
 * next revision; it overrides `rev`. After `event: cancel` the response
 * ends. Bad parameters answer 400 with the usual JSON error before any event.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Event, KeyValue } from '@cairn/proto';
import { EventType } from '@cairn/proto';
import { InvalidArgumentError } from '../errors.js';
import { WATCH_BUFFER_BYTES_MAX, WATCH_BUFFER_RESPONSES_MAX } from '../limits.js';
import type { RevisionEvents } from '../state-machine/ports.js';
import { Outbox } from './outbox.js';
import type { WatchCancel, WatchHub, WatchOutput } from './watch-hub.js';
import { validateWatchCreate } from './watch-spec.js';

export class SseWatches {
  private readonly open = new Map<ServerResponse, Outbox<string>>();

  constructor(
    private readonly hub: WatchHub,
    private readonly keyBytesMax: number,
  ) {}

  count(): number {
    return this.open.size;
  }

  /** Bytes of events waiting for slow clients, all responses. */
  queuedBytes(): number {
    let bytes = 0;
    for (const outbox of this.open.values()) bytes += outbox.queuedBytes();
    return bytes;
  }

  serve(request: IncomingMessage, response: ServerResponse, key: Buffer, query: URLSearchParams): void {
    const lastEventId = request.headers['last-event-id'];
    const startRevision =
      typeof lastEventId === 'string' && lastEventId !== ''
        ? parseRevision(lastEventId, 'Last-Event-ID') + 1
        : parseRevision(query.get('rev') ?? '0', 'rev');
    const spec = validateWatchCreate(
      { key, prefix: flag(query, 'prefix'), startRevision, progressNotify: true, filters: [], prevKv: flag(query, 'prev_kv'), watchId: 0 },
      this.keyBytesMax,
    );
    const encoding = query.get('encoding') ?? 'utf8';
    if (encoding !== 'utf8' && encoding !== 'base64') throw new InvalidArgumentError('encoding must be utf8 or base64');

    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const outbox = new Outbox<string>(
      { write: (text) => response.write(text), onDrain: (listener) => response.on('drain', listener) },
      { bytes: WATCH_BUFFER_BYTES_MAX, messages: WATCH_BUFFER_RESPONSES_MAX },
    );
    const output: WatchOutput = {
      events: (revisions: readonly RevisionEvents[]) => {
        const text = sseText(revisions, encoding);
        return outbox.send(0, text, text.length);
      },
      progress: (revision: number) => outbox.send(0, `: progress ${revision}\n\n`, 32),
      cancelled: (cancel: WatchCancel) => {
        const body = { code: cancel.code, reason: cancel.reason, compactRevision: cancel.compactRevision ?? 0 };
        outbox.send(0, `event: cancel\ndata: ${JSON.stringify(body)}\n\n`, 128);
        response.end();
      },
      writable: () => outbox.whenWritable(0),
      busy: () => outbox.busy(0),
    };
    const handle = this.hub.watch(spec, output);
    // Before any event: the hub never calls the output synchronously from watch().
    outbox.send(0, `retry: 1000\n: created ${handle.createdRevision}\n\n`, 32);
    this.open.set(response, outbox);
    response.on('close', () => {
      handle.cancel();
      outbox.close();
      this.open.delete(response);
    });
  }
}

/** SSE text per selected-events array and encoding: watches on the same selection share the array, so they share the text. */
const texts = { utf8: new WeakMap<readonly RevisionEvents[], string>(), base64: new WeakMap<readonly RevisionEvents[], string>() };

function sseText(revisions: readonly RevisionEvents[], encoding: 'utf8' | 'base64'): string {
  let text = texts[encoding].get(revisions);
  if (text === undefined) texts[encoding].set(revisions, (text = revisions.map((r) => sseEvent(r, encoding)).join('')));
  return text;
}

function sseEvent(revision: RevisionEvents, encoding: BufferEncoding): string {
  const data = { revision: revision.revision, events: revision.events.map((e) => eventJson(e, encoding)) };
  return `id: ${revision.revision}\ndata: ${JSON.stringify(data)}\n\n`;
}

function eventJson(event: Event, encoding: BufferEncoding): Record<string, unknown> {
  return {
    type: event.type === EventType.DELETE ? 'DELETE' : 'PUT',
    ...kvJson(event.kv!, encoding),
    ...(event.prevKv === undefined ? {} : { prevKv: kvJson(event.prevKv, encoding) }),
  };
}

/** A key-value as JSON (the key browser's listing uses it too). */
export function kvJson(kv: KeyValue, encoding: BufferEncoding): Record<string, unknown> {
  return {
    key: kv.key.toString(encoding),
    value: kv.value.toString(encoding),
    version: kv.version,
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    lease: kv.lease,
  };
}

function flag(query: URLSearchParams, name: string): boolean {
  const value = query.get(name);
  return value !== null && value !== '0' && value !== 'false';
}

function parseRevision(text: string, what: string): number {
  const revision = /^[0-9]{1,16}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(revision)) throw new InvalidArgumentError(`${what} must be a non-negative integer revision`);
  return revision;
}
