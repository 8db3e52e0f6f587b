/**
 * Watch responses encoded once per revision group, not once per watch.
 *
 * Watches with the same key, prefix and options get the very same selected
 * events in a batch (the hub hands them the same array), and on one node the
 * header is the same for all of them, so only `watch_id` differs between
 * their responses. Protobuf fields may come in any order, so a response is
 * the varint field `watch_id` followed by the shared encoding of the rest.
 * With 1,000 watches on one prefix, this turns 1,000 encodes per revision
 * into one encode and 1,000 short copies.
 *
 * The Watch service's serializer passes such Buffers through as they are.
 */
import { type ResponseHeader, WatchResponse, WatchServiceService } from '@cairn/proto';
import type { RevisionEvents } from '../state-machine/ports.js';

const WATCH_ID_TAG = (2 << 3) | 0; // field 2, varint

/** The service definition with a serializer that sends pre-encoded responses unchanged. */
export const WATCH_SERVICE_DEFINITION = {
  ...WatchServiceService,
  watch: {
    ...WatchServiceService.watch,
    responseSerialize: (value: WatchResponse | Buffer): Buffer =>
      Buffer.isBuffer(value) ? value : WatchServiceService.watch.responseSerialize(value),
  },
} as const;

/** Whole revisions that leave in one response, with their estimated size; shared by every watch given the same selection. */
export interface ResponseGroup {
  readonly revisions: readonly RevisionEvents[];
  readonly bytes: number;
  readonly lastRevision: number;
}

/** Encoded bodies (everything but watch_id) per group, for the batch in which the hub shares it. */
const bodies = new WeakMap<ResponseGroup, Buffer>();

/** The response for watch `watchId` carrying `group`: encoded once per group, then prefixed per watch. */
export function encodeEventsResponse(watchId: number, group: ResponseGroup, header: () => ResponseHeader): Buffer | WatchResponse {
  const eventsOf = (): WatchResponse['events'] => group.revisions.flatMap((r) => r.events);
  if (!(Number.isSafeInteger(watchId) && watchId > 0)) return { ...EMPTY_WATCH_RESPONSE, watchId, header: header(), events: eventsOf() };
  let body = bodies.get(group);
  if (body === undefined) {
    body = Buffer.from(WatchResponse.encode({ ...EMPTY_WATCH_RESPONSE, header: header(), events: eventsOf() }).finish());
    bodies.set(group, body);
  }
  const prefix = varintField(watchId);
  const message = Buffer.allocUnsafe(prefix.length + body.length);
  prefix.copy(message, 0);
  body.copy(message, prefix.length);
  return message;
}

function varintField(value: number): Buffer {
  const bytes = [WATCH_ID_TAG];
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/** A WatchResponse with every field at its default, to spread the set fields over. */
export const EMPTY_WATCH_RESPONSE: WatchResponse = {
  watchId: 0,
  created: false,
  canceled: false,
  compactRevision: 0,
  cancelReason: '',
  cancelCode: '',
  events: [],
};
