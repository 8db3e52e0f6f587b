/**
 * Session lanes for exactly-once writes. The server keeps, per client id, the
 * last seq applied and its reply, so only the *latest* seq of a client id can
 * be retried safely. Each lane is a client id with at most one write in
 * flight; a write keeps its lane and seq across all its retries.
 */
import { assert } from '@cairn/proto';
import { AbortedError, TooManyRequestsError } from './errors.js';
import { WRITES_WAITING_MAX } from './limits.js';

export interface WriteLane {
  readonly clientId: string;
  /** The seq of the write holding the lane. */
  seq: number;
  busy: boolean;
}

export class WriteLanes {
  private readonly lanes: WriteLane[] = [];
  private readonly waiters: Array<(lane: WriteLane) => void> = [];

  constructor(
    private readonly clientId: string,
    private readonly lanesMax: number,
  ) {
    assert(lanesMax >= 1);
  }

  /** Takes a free lane (creating one if under the bound) and assigns the next seq. */
  async acquire(signal: AbortSignal | undefined): Promise<WriteLane> {
    let lane = this.lanes.find((candidate) => !candidate.busy) ?? this.grow();
    if (lane !== undefined) {
      assert(!lane.busy, 'a lane holds one write at a time');
      lane.busy = true;
    } else {
      // A releasing write hands its lane over still marked busy.
      lane = await this.wait(signal);
      assert(lane.busy);
    }
    lane.seq += 1;
    return lane;
  }

  release(lane: WriteLane): void {
    assert(lane.busy, 'release of a free lane');
    const next = this.waiters.shift();
    if (next !== undefined) next(lane);
    else lane.busy = false;
  }

  private grow(): WriteLane | undefined {
    if (this.lanes.length >= this.lanesMax) return undefined;
    const index = this.lanes.length;
    const lane: WriteLane = { clientId: index === 0 ? this.clientId : `${this.clientId}/${index}`, seq: 0, busy: false };
    this.lanes.push(lane);
    return lane;
  }

  private wait(signal: AbortSignal | undefined): Promise<WriteLane> {
    if (this.waiters.length >= WRITES_WAITING_MAX) {
      return Promise.reject(new TooManyRequestsError('too many writes waiting for a session lane'));
    }
    if (signal?.aborted) return Promise.reject(new AbortedError());
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        const index = this.waiters.indexOf(take);
        if (index >= 0) this.waiters.splice(index, 1);
        reject(new AbortedError());
      };
      const take = (lane: WriteLane): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve(lane);
      };
      this.waiters.push(take);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
