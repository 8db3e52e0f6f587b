/**
 * gRPC WatchService: one bidi Watch stream carries many watches. Each create
 * is answered `created: true` (header.revision: the watch has been sent
 * everything it wants up to there, i.e. nothing yet) before any of its
 * events; the client picks watch_id or leaves it 0 for the node to pick.
 * A bad create (empty key without prefix, key too long, bad filter, a
 * watch_id in use) is answered `canceled: true` with cancel_code
 * INVALID_ARGUMENT (KEY_TOO_LARGE for a long key) and a cancel_reason, and
 * the stream stays open. A cancel is answered `canceled: true`. The hub
 * ends a watch with COMPACTED (compact_revision set) or SHUTTING_DOWN.
 * Event responses carry whole revisions, header.revision = the last one.
 * A WatchProgressRequest gets one empty response per watch on the stream.
 * Any member serves watches from its applied state.
 */
import type * as grpc from '@grpc/grpc-js';
import type { ResponseHeader, WatchCreateRequest, WatchRequest, WatchResponse, WatchServiceServer } from '@cairn/proto';
import { InvalidArgumentError, KvError, TooManyRequestsError } from '../errors.js';
import {
  WATCH_BUFFER_BYTES_MAX,
  WATCH_BUFFER_RESPONSES_MAX,
  WATCH_RESPONSE_BYTES_TARGET,
  WATCH_STREAM_IN_FLIGHT_BYTES,
  WATCHES_PER_STREAM_MAX,
} from '../limits.js';
import type { Logger } from '../logger.js';
import type { RevisionEvents } from '../state-machine/ports.js';
import { grpcChannel } from './grpc-channel.js';
import { EMPTY_WATCH_RESPONSE, encodeEventsResponse, type ResponseGroup } from './shared-encoding.js';
import { Outbox, type OutboxBounds } from './outbox.js';
import type { WatchCancel, WatchHandle, WatchHub, WatchOutput } from './watch-hub.js';
import { revisionsBytes, validateWatchCreate } from './watch-spec.js';

type WatchCall = grpc.ServerDuplexStream<WatchRequest, WatchResponse>;

export interface WatchStreamsOptions {
  keyBytesMax: number;
  /** The header of a response that covers everything up to `revision`. */
  header: (revision: number) => ResponseHeader;
  logger?: Logger;
  bounds?: OutboxBounds;
}

/** The open Watch streams of a node, so that stopping can end them. */
export class WatchStreams {
  private readonly open = new Set<WatchStream>();

  constructor(
    private readonly hub: WatchHub,
    private readonly options: WatchStreamsOptions,
  ) {}

  readonly service: WatchServiceServer = {
    watch: (call: WatchCall) => {
      const stream = new WatchStream(call, this.hub, this.options, () => this.open.delete(stream));
      this.open.add(stream);
    },
  };

  count(): number {
    return this.open.size;
  }

  /** Bytes of responses waiting for slow clients, all streams. */
  queuedBytes(): number {
    let bytes = 0;
    for (const stream of this.open) bytes += stream.queuedBytes();
    return bytes;
  }

  /** Ends every stream (its watches were told SHUTTING_DOWN by the hub's close). */
  closeAll(): void {
    for (const stream of [...this.open]) stream.end();
  }
}

class WatchStream {
  private readonly watches = new Map<number, WatchHandle>();
  private readonly outbox: Outbox<WatchResponse | Buffer>;
  private nextId = 1;
  private ended = false;

  constructor(
    private readonly call: WatchCall,
    private readonly hub: WatchHub,
    private readonly options: WatchStreamsOptions,
    private readonly onEnd: () => void,
  ) {
    this.outbox = new Outbox(
      grpcChannel(call, WATCH_STREAM_IN_FLIGHT_BYTES),
      options.bounds ?? { bytes: WATCH_BUFFER_BYTES_MAX, messages: WATCH_BUFFER_RESPONSES_MAX },
    );
    call.on('data', (request: WatchRequest) => this.receive(request));
    // The client is done with the whole stream: its watches go, the call ends.
    call.on('end', () => this.end());
    call.on('cancelled', () => this.gone());
    call.on('error', () => this.gone());
  }

  queuedBytes(): number {
    return this.outbox.queuedBytes();
  }

  end(): void {
    if (this.ended) return;
    this.gone();
    this.call.end();
  }

  private gone(): void {
    if (this.ended) return;
    this.ended = true;
    for (const handle of this.watches.values()) handle.cancel();
    this.watches.clear();
    this.outbox.close();
    this.onEnd();
  }

  private receive(request: WatchRequest): void {
    if (this.ended) return;
    if (request.createRequest !== undefined) this.create(request.createRequest);
    else if (request.cancelRequest !== undefined) this.cancel(request.cancelRequest.watchId);
    else if (request.progressRequest !== undefined) for (const handle of this.watches.values()) handle.requestProgress();
  }

  private create(request: WatchCreateRequest): void {
    let id = request.watchId;
    try {
      const spec = validateWatchCreate(request, this.options.keyBytesMax);
      if (id !== 0 && this.watches.has(id)) throw new InvalidArgumentError(`watch_id ${id} is already in use on this stream`);
      if (this.watches.size >= WATCHES_PER_STREAM_MAX)
        throw new TooManyRequestsError(`a Watch stream holds at most ${WATCHES_PER_STREAM_MAX} watches`);
      if (id === 0) id = this.freeId();
      const handle = this.hub.watch(spec, this.output(id));
      this.watches.set(id, handle);
      // Before any event: the hub never calls the output synchronously from watch().
      this.send(id, { watchId: id, created: true, header: this.options.header(handle.createdRevision) });
    } catch (error) {
      const kvError = error instanceof KvError ? error : new InvalidArgumentError(String(error));
      this.send(-1, {
        watchId: Number.isSafeInteger(id) && id > 0 ? id : -1,
        canceled: true,
        cancelCode: kvError.code,
        cancelReason: kvError.message,
        header: this.options.header(this.hub.revision()),
      });
    }
  }

  private cancel(id: number): void {
    const handle = this.watches.get(id);
    handle?.cancel();
    this.watches.delete(id);
    this.send(id, { watchId: id, canceled: true, header: this.options.header(this.hub.revision()) });
  }

  private freeId(): number {
    while (this.watches.has(this.nextId)) this.nextId++;
    return this.nextId++;
  }

  private output(id: number): WatchOutput {
    return {
      events: (revisions: readonly RevisionEvents[]) => {
        let within = true;
        for (const group of responseGroups(revisions)) {
          const response = encodeEventsResponse(id, group, () => this.options.header(group.lastRevision));
          within = this.outbox.send(id, response, group.bytes) && within;
        }
        return within;
      },
      progress: (revision: number) => this.send(id, { watchId: id, header: this.options.header(revision) }),
      cancelled: (cancel: WatchCancel) => {
        this.watches.delete(id);
        this.send(id, {
          watchId: id,
          canceled: true,
          cancelCode: cancel.code,
          cancelReason: cancel.reason,
          compactRevision: cancel.compactRevision ?? 0,
          header: this.options.header(this.hub.revision()),
        });
      },
      writable: () => this.outbox.whenWritable(id),
      busy: () => this.outbox.busy(id),
    };
  }

  private send(id: number, response: Partial<WatchResponse>): void {
    if (this.ended) return;
    this.outbox.send(id, { ...EMPTY_WATCH_RESPONSE, ...response }, 64);
  }
}

/** responseGroups' answer per selected-events array: watches that share the array share the groups (and their encoding). */
const groupsOf = new WeakMap<readonly RevisionEvents[], ResponseGroup[]>();

/** Whole revisions cut into responses of about WATCH_RESPONSE_BYTES_TARGET (one revision may be larger: never split). */
function responseGroups(revisions: readonly RevisionEvents[]): ResponseGroup[] {
  let groups = groupsOf.get(revisions);
  if (groups === undefined) groupsOf.set(revisions, (groups = cutGroups(revisions)));
  return groups;
}

function cutGroups(revisions: readonly RevisionEvents[]): ResponseGroup[] {
  const groups: ResponseGroup[] = [];
  let group: RevisionEvents[] = [];
  let bytes = 0;
  const close = (): void => {
    groups.push({ revisions: group, bytes, lastRevision: group[group.length - 1]!.revision });
    group = [];
    bytes = 0;
  };
  for (const revision of revisions) {
    const size = revisionsBytes([revision]);
    if (group.length > 0 && bytes + size > WATCH_RESPONSE_BYTES_TARGET) close();
    group.push(revision);
    bytes += size;
  }
  if (group.length > 0) close();
  return groups;
}
