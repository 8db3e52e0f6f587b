/**
 * A node's watch subsystem, as server.ts wires it: the hub on the state
 * machine's history, the gRPC WatchService, the HTTP (SSE) watches, their
 * metrics, and close() for stop (every watch ends with SHUTTING_DOWN).
 */
import type { ResponseHeader, WatchServiceServer } from '@cairn/proto';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { HistoryReader } from '../state-machine/ports.js';
import { SseWatches } from './sse-watch.js';
import { WatchHub } from './watch-hub.js';
import { WatchStreams } from './watch-service.js';

export interface NodeWatches {
  readonly hub: WatchHub;
  readonly service: WatchServiceServer;
  readonly http: SseWatches;
  /** Ends every watch (SHUTTING_DOWN) and every Watch stream. */
  close(): void;
}

export function startNodeWatches(deps: {
  history: HistoryReader;
  header: (revision: number) => ResponseHeader;
  keyBytesMax: number;
  logger: Logger;
  metrics: Metrics;
}): NodeWatches {
  const hub = new WatchHub(deps.history, { logger: deps.logger });
  const streams = new WatchStreams(hub, { keyBytesMax: deps.keyBytesMax, header: deps.header, logger: deps.logger });
  const http = new SseWatches(hub, deps.keyBytesMax);
  deps.metrics.gauge('cairn_watchers', 'Open watches (gRPC and HTTP).', () => hub.count());
  deps.metrics.gauge('cairn_watch_streams', 'Open gRPC Watch streams and HTTP watch responses.', () => streams.count() + http.count());
  deps.metrics.gauge(
    'cairn_watch_queued_bytes',
    'Bytes of watch responses waiting for clients that read slowly (bounded per watch).',
    () => streams.queuedBytes() + http.queuedBytes(),
  );
  deps.metrics.counterFrom('cairn_watch_events_sent_total', 'Events handed to watch streams.', () => hub.eventsSent);
  return {
    hub,
    service: streams.service,
    http,
    close: () => {
      hub.close();
      streams.closeAll();
    },
  };
}
