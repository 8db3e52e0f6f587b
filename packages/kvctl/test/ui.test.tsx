// Goal: the Ink components render results, errors and the live benchmark view
// from props alone. Method: ink-testing-library with fixed data; frames are
// read with ANSI stripped through waitForFrame(text, { deadlineMs }).
// tsx applies tsconfig.json (jsx: react-jsx) only to src/, so say it here for this test file:
/** @jsxRuntime automatic */
/** @jsxImportSource react */
import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { stripVTControlCharacters } from 'node:util';
import { render } from 'ink-testing-library';
import type { BenchSnapshot } from '../src/bench.js';
import { describeError } from '../src/errors.js';
import type { Result } from '../src/run.js';
import { App } from '../src/ui/app.js';
import { CrashGuard } from '../src/ui/crash-guard.js';
import { FakeClerkError } from './fake-clerk.js';

type Rendered = ReturnType<typeof render>;
const mounted: Rendered[] = [];
afterEach(() => {
  for (const instance of mounted.splice(0)) instance.unmount();
});

function mount(element: Parameters<typeof render>[0]): Rendered {
  const instance = render(element);
  mounted.push(instance);
  return instance;
}

function frameOf(instance: Rendered): string {
  return stripVTControlCharacters(instance.lastFrame() ?? '');
}

/** Resolves with the first frame containing `text`; fails after deadlineMs with the last frame seen. */
async function waitForFrame(instance: Rendered, text: string, { deadlineMs = 2000 } = {}): Promise<string> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const frame = frameOf(instance);
    if (frame.includes(text)) return frame;
    if (Date.now() > deadline) assert.fail(`no frame containing ${JSON.stringify(text)} within ${deadlineMs} ms; last frame:\n${frame}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

const done = (result: Result, verbose = false) => ({ phase: 'done', result, verbose }) as const;

describe('App', () => {
  test('shows a spinner with the label, then the result on rerender', async () => {
    const instance = mount(<App state={{ phase: 'running', label: 'get…' }} />);
    await waitForFrame(instance, 'get…');
    instance.rerender(<App state={done({ kind: 'put', key: 'k', version: 7 })} />);
    const frame = await waitForFrame(instance, 'OK (version 7)');
    assert.doesNotMatch(frame, /get…/);
  });

  test('get shows the value, and metadata when verbose', async () => {
    const kv = { key: Buffer.from('k'), value: Buffer.from('hello'), version: 3, createIndex: 2, modIndex: 8 };
    const instance = mount(<App state={done({ kind: 'get', key: 'k', kv }, true)} />);
    const frame = await waitForFrame(instance, 'hello');
    assert.match(frame, /version 3, created at 2, modified at 8/);
  });

  test('a missing key says so', async () => {
    const instance = mount(<App state={done({ kind: 'get', key: 'gone', kv: undefined })} />);
    await waitForFrame(instance, 'not found: gone');
  });

  test('status table: one row per member, leader starred, dead member shows its error', async () => {
    const instance = mount(
      <App
        state={done({
          kind: 'status',
          rows: [
            {
              id: 1,
              clientAddress: '127.0.0.1:7001',
              learner: false,
              isLeader: false,
              health: 'ok',
              role: 'follower',
              term: 4,
              commitIndex: 20,
              appliedIndex: 18,
              lag: 2,
            },
            {
              id: 2,
              clientAddress: '127.0.0.1:7002',
              learner: false,
              isLeader: true,
              health: 'ok',
              role: 'leader',
              term: 4,
              commitIndex: 20,
              appliedIndex: 20,
              lag: 0,
            },
            { id: 3, clientAddress: '127.0.0.1:7003', learner: true, isLeader: false, health: 'UNAVAILABLE' },
          ],
        })}
      />,
    );
    const frame = await waitForFrame(instance, 'UNAVAILABLE');
    const lines = frame.split('\n').map((line) => line.trimEnd());
    assert.match(lines[0]!, /^ID\s+ADDRESS\s+ROLE\s+TERM\s+COMMIT\s+APPLIED\s+LAG\s+HEALTH$/);
    assert.match(lines[1]!, /^ 1\s+127\.0\.0\.1:7001\s+follower\s+4\s+20\s+18\s+2\s+ok$/);
    assert.match(lines[2]!, /^★2\s+127\.0\.0\.1:7002\s+leader\s+4\s+20\s+20\s+0\s+ok$/);
    assert.match(lines[3]!, /^ 3\s+127\.0\.0\.1:7003\s+- \(learner\)/);
  });

  test('range lists keys and values', async () => {
    const kvs = ['a', 'b'].map((name) => ({
      key: Buffer.from(`p/${name}`),
      value: Buffer.from(name.toUpperCase()),
      version: 1,
      createIndex: 1,
      modIndex: 1,
    }));
    const instance = mount(<App state={done({ kind: 'range', prefix: 'p/', kvs, more: true, keysOnly: false })} />);
    const frame = await waitForFrame(instance, 'p/b');
    assert.match(frame, /p\/a\s+A/);
    assert.match(frame, /--start-after 'p\/b'/);
  });

  test('an error shows its code, one line and a hint, never a stack', async () => {
    const error = new FakeClerkError('UNAVAILABLE', 'all endpoints refused\n    at connect (clerk.ts:10:3)');
    const instance = mount(<App state={{ phase: 'failed', error: describeError(error) }} />);
    const frame = await waitForFrame(instance, 'error: UNAVAILABLE');
    assert.match(frame, /error: UNAVAILABLE: all endpoints refused/);
    assert.match(frame, /hint: .*--endpoints/);
    assert.doesNotMatch(frame, /clerk\.ts/);
  });
});

describe('BenchView', () => {
  const snapshot = (overrides: Partial<BenchSnapshot>): BenchSnapshot => ({
    done: false,
    elapsedMs: 1500,
    ops: 300,
    reads: 150,
    writes: 150,
    errors: 0,
    errorsByCode: {},
    opsPerSec: 200,
    recentOpsPerSec: 250,
    latencyMs: { p50: 1.5, p90: 3, p99: 12.25, max: 40 },
    ...overrides,
  });

  test('starting, live progress with the recent rate, then the summary with the overall rate', async () => {
    const instance = mount(<App state={{ phase: 'bench', snapshot: undefined, concurrency: 8 }} />);
    await waitForFrame(instance, 'bench: starting');
    instance.rerender(<App state={{ phase: 'bench', snapshot: snapshot({}), concurrency: 8 }} />);
    const live = await waitForFrame(instance, 'bench: running');
    assert.match(live, /8 workers, 1\.5s/);
    assert.match(live, /ops\/s 250/);
    assert.match(live, /p50 1\.50ms\s+p90 3\.00ms\s+p99 12\.3ms\s+max 40\.0ms/);
    instance.rerender(
      <App
        state={{
          phase: 'bench',
          concurrency: 8,
          snapshot: snapshot({ done: true, errors: 3, errorsByCode: { TIMEOUT: 2, NO_LEADER: 1 } }),
        }}
      />,
    );
    const summary = await waitForFrame(instance, 'bench: done');
    assert.match(summary, /ops\/s 200/);
    assert.match(summary, /errors 3 \(TIMEOUT×2 NO_LEADER×1\)/);
  });
});

describe('CrashGuard', () => {
  test('a view that throws shows INTERNAL and one line, not a stack, and reports the crash', async () => {
    function Broken(): never {
      throw new Error('bad render\n    at Broken (view.tsx:1:1)');
    }
    const crashes: string[] = [];
    const originalConsoleError = console.error;
    console.error = () => {}; // React logs caught render errors; keep the test output clean.
    try {
      const instance = mount(
        <CrashGuard onCrash={(error) => crashes.push(error.code)}>
          <Broken />
        </CrashGuard>,
      );
      const frame = await waitForFrame(instance, 'error: INTERNAL');
      assert.match(frame, /error: INTERNAL: bad render/);
      assert.doesNotMatch(frame, /view\.tsx/);
      assert.deepEqual(crashes, ['INTERNAL']);
    } finally {
      console.error = originalConsoleError;
    }
  });
});
