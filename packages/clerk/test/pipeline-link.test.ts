// Goal: a PipelineLink uses the one carrier it was given. A stream that ends
// before its connection was ready fails its calls once each, as UNAVAILABLE
// and never reached (nothing is sent again on another carrier), and the next
// call opens a new stream on the same carrier. An idle raw link is parked,
// and closed only after a longer idle period.
// Method: PipelineLink with a scripted carrier.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { PipelineRequest, PipelineResult } from '@cairn/proto';
import { waitFor } from '@cairn/testkit';
import { PipelineLink } from '../src/pipeline.js';
import type { Carrier, CarrierEvents, OpenCarrier } from '../src/pipeline-carriers.js';
import { answer } from './fake-results.js';

interface Script {
  opens: number;
  written: PipelineRequest[];
  parked: number;
  cancelled: number;
}

/**
 * A carrier whose node answers every op (put version 5); with `refuse`, one
 * whose stream ends on its first write before it was ever ready; with `silent`,
 * one that answers nothing. `parks`: it can be parked, as a raw link can.
 */
function scripted(behaviour: 'answer' | 'refuse' | 'silent', parks = true): OpenCarrier & { script: Script } {
  const script: Script = { opens: 0, written: [], parked: 0, cancelled: 0 };
  const open = (events: CarrierEvents): Carrier => {
    script.opens += 1;
    let done = false;
    const end = (reason: string): void => {
      if (done) return;
      done = true;
      queueMicrotask(() => events.ended(reason));
    };
    return {
      write: (request) => {
        if (done) return;
        if (behaviour === 'refuse') return end('refused by the script');
        script.written.push(request);
        if (behaviour === 'answer') {
          const results: PipelineResult[] = request.ops.map((op) => answer(op, 5));
          queueMicrotask(() => events.response({ results }));
        }
      },
      cancel: () => {
        script.cancelled += 1;
        end('cancelled');
      },
      sawReady: () => behaviour !== 'refuse',
      ...(parks ? { park: () => void (script.parked += 1) } : {}),
    };
  };
  return Object.assign(open, { script });
}

const put = { key: Buffer.from('k'), value: Buffer.from('v'), session: { clientId: 'c', seq: 1 }, prevKv: false };
const attempt = (timeoutMs = 5_000) => ({ timeoutMs, signal: new AbortController().signal });

describe('PipelineLink', () => {
  test('a stream that ends before it was ready fails its calls once each as never reached; the next call opens the same carrier again', async () => {
    const open = scripted('refuse');
    const link = new PipelineLink({ open });
    try {
      const results = await Promise.all([1, 2, 3].map(() => link.call('put', put, attempt())));
      for (const result of results) {
        assert.ok(!result.ok);
        assert.equal(result.error.code, 'UNAVAILABLE');
        assert.match(result.error.message, /refused by the script/);
        assert.equal(result.mayHaveReachedServer, false);
        assert.equal(result.fromServer, false);
      }
      assert.deepEqual([open.script.opens, open.script.written.length], [1, 0], 'one stream for the three calls; no op left');
      const again = await link.call('put', put, attempt());
      assert.ok(!again.ok && again.error.code === 'UNAVAILABLE');
      assert.equal(open.script.opens, 2, 'the next call tries the same carrier on a new stream');
    } finally {
      link.close();
    }
  });

  test('a call unanswered on a ready stream times out as may have reached the node, and the stalled stream is cancelled', async () => {
    const open = scripted('silent');
    const link = new PipelineLink({ open });
    try {
      const result = await link.call('put', put, attempt(50));
      assert.ok(!result.ok && result.error.code === 'TIMEOUT' && result.mayHaveReachedServer);
      assert.deepEqual([open.script.opens, open.script.written.length, open.script.cancelled], [1, 1, 1]);
    } finally {
      link.close();
    }
  });

  test('an idle raw link is parked, then closed after the longer idle period; a busy one is neither', async () => {
    const open = scripted('answer');
    const link = new PipelineLink({ open, timing: { idleMs: 20, parkedCloseMs: 40 } });
    try {
      assert.ok((await link.call('put', put, attempt())).ok);
      await waitFor(() => open.script.parked === 1, { deadlineMs: 5_000, what: 'the idle link to be parked' });
      assert.equal(open.script.cancelled, 0, 'parked, not closed');
      // A call on the parked link reuses it and stops the close.
      assert.ok((await link.call('put', put, attempt())).ok);
      assert.equal(open.script.opens, 1);
      await waitFor(() => open.script.cancelled === 1, { deadlineMs: 5_000, what: 'the parked link to be closed after the longer period' });
      assert.equal(open.script.parked, 2);
      assert.ok((await link.call('put', put, attempt())).ok);
      assert.equal(open.script.opens, 2, 'the next call connects afresh');
    } finally {
      link.close();
    }
  });

  test('an idle stream that cannot be parked (gRPC) is cancelled', async () => {
    const open = scripted('answer', false);
    const link = new PipelineLink({ open, timing: { idleMs: 20, parkedCloseMs: 40 } });
    try {
      assert.ok((await link.call('put', put, attempt())).ok);
      await waitFor(() => open.script.cancelled === 1, { deadlineMs: 5_000, what: 'the idle stream to be cancelled' });
      assert.ok((await link.call('put', put, attempt())).ok);
      assert.equal(open.script.opens, 2);
    } finally {
      link.close();
    }
  });
});
