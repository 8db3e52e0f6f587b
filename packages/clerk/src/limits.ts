/** Every bound the clerk enforces, in one place; test/limits.test.ts goes just over each (the idle timers: pipeline-link.test). */
import { assert } from '@cairn/proto';

/** Attempts of one call, whatever the deadline; a backstop against a retry loop that never sleeps. */
export const ATTEMPTS_MAX = 10_000;
/** Buffered status events per subscriber; the oldest are dropped beyond this. */
export const STATUS_EVENTS_BUFFERED_MAX = 256;
/** Calls waiting for a free write session lane; more fail with TooManyRequestsError. */
export const WRITES_WAITING_MAX = 10_000;
/** Upper bound for `writesInflightMax`. */
export const WRITE_LANES_MAX = 1024;
/** Endpoints in the pool (seeds plus discovered members). */
export const ENDPOINTS_MAX = 256;
/** A pipeline message is sent early once its ops reach about this size (the server accepts far more). */
export const PIPELINE_MESSAGE_BYTES_TARGET = 1024 * 1024;
/**
 * A pipeline stream with no calls for this long stops keeping the process
 * alive, so an application that never closes its clerk still exits: a raw
 * link is unref'd and kept for the next call, a gRPC stream is cancelled
 * (the next call opens a new one on the same connection).
 */
export const PIPELINE_IDLE_CLOSE_MS = 1_000;
/** A raw link idle this long after it was parked is closed (the next call connects afresh). */
export const PARKED_LINK_CLOSE_MS = 30_000;
/** Largest PipelineResponse frame accepted on the raw KV link (the node's own message limit). */
export const CLIENT_LINK_FRAME_BYTES_MAX = 64 * 1024 * 1024;
/** TCP keepalive of the raw KV link. A dead link is also found by a call's timeout. */
export const CLIENT_LINK_KEEPALIVE_MS = 10_000;
/** Longest accepted client id, in characters. */
export const CLIENT_ID_CHARS_MAX = 128;

assert(ATTEMPTS_MAX > ENDPOINTS_MAX, 'a call must be able to ask every endpoint');
assert(WRITES_WAITING_MAX >= WRITE_LANES_MAX);
