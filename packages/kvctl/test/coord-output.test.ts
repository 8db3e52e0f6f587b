// Goal: the coordination commands print what the README shows, release what
// they hold on every exit path, and a clerk without a feature is a clear
// NOT_IMPLEMENTED error. Method: results and watch events rendered directly;
// lock/elect run with fake recipes and an AbortController for Ctrl-C.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { coordText, watchEventLine } from '../src/format-coord.js';
import { jsonOfResult } from '../src/output/plain.js';
import { execute, exitCodeForResult } from '../src/run.js';
import { runLive } from '../src/live.js';
import type { RecipeDeps } from '../src/live-recipes.js';
import { FakeClerk } from './fake-clerk.js';

const kv = (key: string, value: string) => ({
  key: Buffer.from(key),
  value: Buffer.from(value),
  version: 1,
  createIndex: 1,
  modIndex: 1,
  createRevision: 4,
  modRevision: 4,
  lease: 0,
});

describe('coordination output', () => {
  test('txn: SUCCESS/FAILURE with the revision, then each op; exit 5 when the compares failed', () => {
    const result = {
      kind: 'txn',
      succeeded: false,
      revision: 9,
      responses: [
        { type: 'get', kv: kv('k', 'v') },
        { type: 'delete', deleted: true, count: 2 },
      ],
    } as const;
    assert.equal(coordText(result), 'FAILURE (revision 9)\nk\tv\ndeleted 2');
    assert.equal(exitCodeForResult(result), 5);
    assert.deepEqual(jsonOfResult(result), {
      succeeded: false,
      revision: 9,
      responses: [
        { type: 'get', kv: { key: 'k', value: 'v', version: 1, createRevision: 4, modRevision: 4, lease: 0 } },
        { type: 'delete', deleted: 2 },
      ],
    });
  });

  test('watch lines: revision, type, key, value, and the previous value with --prev-kv', () => {
    const put = {
      type: 'put',
      key: Buffer.from('a'),
      value: Buffer.from('2'),
      kv: kv('a', '2'),
      prevKv: kv('a', '1'),
      revision: 7,
    } as const;
    assert.equal(watchEventLine(put, false), '7 PUT a 2');
    assert.equal(watchEventLine(put, true), '7 PUT a 2 (prev: 1)');
    assert.equal(watchEventLine({ ...put, type: 'delete', value: Buffer.alloc(0), prevKv: undefined }, true), '7 DELETE a (prev: none)');
  });

  test('a clerk without leases answers NOT_IMPLEMENTED, not a TypeError', async () => {
    await assert.rejects(execute({ kind: 'lease-list' }, new FakeClerk()), { code: 'NOT_IMPLEMENTED' });
  });
});

describe('lock and elect release what they hold', () => {
  function fakeRecipes(log: string[]): RecipeDeps {
    const sessionSignal = new AbortController();
    return {
      session: async () => ({ signal: sessionSignal.signal, close: async () => void log.push('session closed') }),
      mutex: () => ({
        lock: async () => {
          log.push('locked');
          return { key: 'jobs/1', fencingRevision: 12 };
        },
        unlock: async () => void log.push('unlocked'),
      }),
      election: () => ({
        key: 'e/1',
        campaign: async () => 5,
        resign: async () => void log.push('resigned'),
        observe: async function* () {},
      }),
    };
  }
  const io = (recipes: RecipeDeps, signal: AbortSignal) => {
    const stdout = new PassThrough();
    let text = '';
    stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    return { io: { stdout, stderr: new PassThrough(), json: false, signal, recipes }, text: () => text };
  };

  test('lock without a command holds until Ctrl-C, then unlocks and closes the session; exit 0', async () => {
    const log: string[] = [];
    const stop = new AbortController();
    const { io: liveIo, text } = io(fakeRecipes(log), stop.signal);
    const running = runLive({ kind: 'lock', name: 'jobs', ttl: 60, command: [] }, new FakeClerk(), liveIo);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(log, ['locked'], 'held until interrupted');
    stop.abort();
    assert.equal(await running, 0);
    assert.deepEqual(log, ['locked', 'unlocked', 'session closed']);
    assert.equal(text(), 'locked jobs/1 (fencing revision 12)\n');
  });

  test('lock with a command that cannot start: exit 127, and still released', async () => {
    const log: string[] = [];
    const { io: liveIo } = io(fakeRecipes(log), new AbortController().signal);
    const code = await runLive({ kind: 'lock', name: 'jobs', ttl: 60, command: ['/no/such/command'] }, new FakeClerk(), liveIo);
    assert.equal(code, 127);
    assert.deepEqual(log, ['locked', 'unlocked', 'session closed']);
  });

  test('elect with a proposal leads until Ctrl-C, then resigns', async () => {
    const log: string[] = [];
    const stop = new AbortController();
    const { io: liveIo, text } = io(fakeRecipes(log), stop.signal);
    const running = runLive({ kind: 'elect', name: 'e', ttl: 60, proposal: 'alpha' }, new FakeClerk(), liveIo);
    await new Promise((resolve) => setImmediate(resolve));
    stop.abort();
    assert.equal(await running, 0);
    assert.deepEqual(log, ['resigned', 'session closed']);
    assert.equal(text(), 'elected: alpha (key e/1, revision 5)\n');
  });
});
