// Goal: a PipelineLink that met an older node goes back to the newer carrier
// once RAW_LINK_RETRY_MS has passed: the raw link after an HTTP/2 answer, the
// gRPC Pipeline after UNIMPLEMENTED; and not before, so an old node costs one
// failed attempt per period, not one per call. Calls that provably never left
// are sent again, each answered once. An idle raw link is parked, and closed
// only after a longer idle period.
// Method: PipelineLink with scripted carriers and a fake time source.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { PipelineRequest, PipelineResult } from '@cairn/proto';
import { waitFor } from '@cairn/testkit';
import { RAW_LINK_RETRY_MS } from '../src/limits.js';
import { PIPELINE_UNSUPPORTED, PipelineLink } from '../src/pipeline.js';
import type { Carrier, CarrierEvents, OpenCarrier } from '../src/pipeline-carriers.js';
import { answer } from './fake-results.js';



interface Script {
  opens: number;
  written: PipelineRequest[];
  parked: number;
  cancelled: number;
}

/** A carrier whose node answers every op (put version 5), or, with `refuse`, ends as unsupported on the first write. */
function scripted(kind: 'raw' | 'grpc', behaviour: 'answer' | 'refuse' | 'silent'): OpenCarrier & { script: Script } {
  const script: Script = { opens: 0, written: [], parked: 0, cancelled: 0 };
  const open = (events: CarrierEvents): Carrier => {
    script.opens += 1;
    let done = false;
    const end = (reason: string, unsupported: boolean): void => {
      if (done) return;
      done = true;
      queueMicrotask(() => events.ended(reason, unsupported));
    };
    return {
      kind,
      write: (request) => {
        if (done) return;
        if (behaviour === 'refuse') return end('refused by the script', true);
        script.written.push(request);
        if (behaviour === 'answer') {
          const results: PipelineResult[] = request.ops.map((op) => answer(op, 5));
          queueMicrotask(() => events.response({ results }));
        }
      },
      cancel: () => {
        script.cancelled += 1;
        end('cancelled', false);
      },
      sawReady: () => behaviour !== 'refuse',
      ...(kind === 'raw' ? { park: () => void (script.parked += 1) } : {}),
    };
  };
  return Object.assign(open, { script });
}

const put = { key: Buffer.from('k'), value: Buffer.from('v'), session: { clientId: 'c', seq: 1 }, prevKv: false };
const attempt = (timeoutMs = 5_000) => ({ timeoutMs, signal: new AbortController().signal });

describe('PipelineLink carrier retries', () => {
  test('after an HTTP/2 answer on the raw link, calls go over gRPC until the retry period has passed', async () => {
    let now = 1_000;
    const raw = scripted('raw', 'refuse');
    const grpc = scripted('grpc', 'silent');
    const link = new PipelineLink({ raw, grpc }, () => now);
    try {
      // Refused on the raw link, resent over gRPC (which never answers: the call times out there).
      const first = await link.call('put', put, attempt(50));
      assert.ok(first !== PIPELINE_UNSUPPORTED && !first.ok && first.mayHaveReachedServer, 'timed out on gRPC after being sent');
      assert.deepEqual([raw.script.opens, grpc.script.opens, grpc.script.written.length], [1, 1, 1]);
      // The timeout cancelled that stream. Within the period, a new call opens gRPC again, not raw.
      now += RAW_LINK_RETRY_MS - 1;
      await link.call('put', put, attempt(50));
      assert.deepEqual([raw.script.opens, grpc.script.opens], [1, 2]);
      // After it, the raw link is asked again.
      now += 2;
      await link.call('put', put, attempt(50));
      assert.equal(raw.script.opens, 2);
    } finally {
      link.close();
    }
  });

  test('after UNIMPLEMENTED the pipeline is unsupported until the retry period has passed', async () => {
    let now = 0;
    const grpc = scripted('grpc', 'refuse');
    const link = new PipelineLink({ raw: undefined, grpc }, () => now);
    try {
      assert.equal(await link.call('put', put, attempt()), PIPELINE_UNSUPPORTED);
      assert.equal(link.supported, false);
      now += RAW_LINK_RETRY_MS - 1;
      assert.equal(link.supported, false);
      now += 2;
      assert.equal(link.supported, true);
    } finally {
      link.close();
    }
  });

  test('an idle raw link is parked, then closed after the longer idle period; a busy one is neither', async () => {
    const raw = scripted('raw', 'answer');
    const grpc = scripted('grpc', 'answer');
    const link = new PipelineLink({ raw, grpc }, () => 0, { idleMs: 20, parkedCloseMs: 40 });
    try {
      assert.ok((await link.call('put', put, attempt())) !== PIPELINE_UNSUPPORTED);
      await waitFor(() => raw.script.parked === 1, { deadlineMs: 5_000, what: 'the idle link to be parked' });
      assert.equal(raw.script.cancelled, 0, 'parked, not closed');
      // A call on the parked link reuses it and stops the close.
      assert.ok((await link.call('put', put, attempt())) !== PIPELINE_UNSUPPORTED);
      assert.equal(raw.script.opens, 1);
      await waitFor(() => raw.script.cancelled === 1, { deadlineMs: 5_000, what: 'the parked link to be closed after the longer period' });
      assert.equal(raw.script.parked, 2);
      assert.ok((await link.call('put', put, attempt())) !== PIPELINE_UNSUPPORTED);
      assert.equal(raw.script.opens, 2, 'the next call connects afresh');
    } finally {
      link.close();
    }
  });

  test('calls refused on the raw link are each answered once over gRPC', async () => {
    const raw = scripted('raw', 'refuse');
    const grpc = scripted('grpc', 'answer');
    const link = new PipelineLink({ raw, grpc }, () => 0);
    try {
      const results = await Promise.all([1, 2, 3].map(() => link.call('put', put, attempt())));
      for (const result of results) assert.ok(result !== PIPELINE_UNSUPPORTED && result.ok && result.response.version === 5);
      assert.deepEqual(grpc.script.written.map((r) => r.ops.length), [3], 'the three calls went once, in one message');
    } finally {
      link.close();
    }
  });
});
