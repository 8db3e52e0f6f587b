// Goal: every launcher starts a node the same way (bin/launch.js): the
// server's Node flags first, the caller's next, then the entry and the
// server's flags; `serving` resolves on the node's announcement and rejects
// with the exit when it dies first. Method: the pure command line, then one
// real node on port 0 and one that refuses its flags (run through a wrapper).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@cairn/testkit';
import {
  LaunchError,
  SERVER_NODE_FLAGS,
  SERVING_MARK,
  chooseServerFrom,
  identityFlags,
  launchNode,
  serverCommandLine,
  serverEntry,
  sourcesDigest,
} from '../bin/launch.js';

const SOURCE_MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

test("the command line: the server's Node flags, the caller's, the source through tsx, then the server's flags", () => {
  const flagsFile: unknown = JSON.parse(readFileSync(new URL('../bin/node-flags.json', import.meta.url), 'utf8'));
  assert.deepEqual(SERVER_NODE_FLAGS, flagsFile);
  assert.ok(SERVER_NODE_FLAGS.length > 0);
  const { command, args } = serverCommandLine({ args: ['--id', '1'], nodeFlags: ['--cpu-prof'], from: 'source' });
  assert.equal(command, process.execPath);
  const flags = SERVER_NODE_FLAGS.length;
  assert.deepEqual(args.slice(0, flags + 1), [...SERVER_NODE_FLAGS, '--cpu-prof']);
  const [conditions, importFlag, tsx, main, ...serverArgs] = args.slice(flags + 1);
  assert.deepEqual([conditions, importFlag, main, serverArgs], ['--conditions=@cairn/source', '--import', SOURCE_MAIN, ['--id', '1']]);
  // tsx by absolute URL, so any working directory works.
  assert.ok(existsSync(fileURLToPath(tsx!)), tsx);
});

test('where the server runs from: what was asked, else the sources under the source condition, else a build made from these sources', () => {
  const found = { requested: undefined, sourceCondition: false, built: true, stale: false, sources: true } as const;
  const from = (inputs: Partial<Parameters<typeof chooseServerFrom>[0]>): string => chooseServerFrom({ ...found, ...inputs }).from;
  // CAIRN_FROM_DIST decides, whatever else holds.
  assert.equal(from({ requested: 'dist', sourceCondition: true, stale: true }), 'dist');
  assert.equal(from({ requested: 'source' }), 'source');
  // The repo's tests and tsx-run tools: the sources, never an old build.
  assert.equal(from({ sourceCondition: true }), 'source');
  // The bin, npm start, an installed package: the build…
  assert.equal(from({}), 'dist');
  assert.equal(from({ sources: false }), 'dist');
  // …unless it was made from other sources: then those sources, and a warning that says so.
  const stale = chooseServerFrom({ ...found, stale: true });
  assert.equal(stale.from, 'source');
  assert.match(stale.warning ?? '', /other sources.*npm run build/);
  assert.equal(chooseServerFrom({ ...found, built: false }).warning, undefined);
  assert.equal(from({ built: false }), 'source');
  // Nothing that can run what was asked for: a NO_ENTRY error, never the other entry.
  for (const inputs of [
    { requested: 'dist', built: false },
    { requested: 'source', sources: false },
    { built: false, sources: false },
  ] as const) {
    assert.throws(
      () => chooseServerFrom({ ...found, ...inputs }),
      (error: unknown) => error instanceof LaunchError && error.code === 'NO_ENTRY',
    );
  }
});

test('under the source condition (as these tests run) a launcher runs the sources unless CAIRN_FROM_DIST says otherwise', () => {
  const saved = process.env.CAIRN_FROM_DIST;
  try {
    delete process.env.CAIRN_FROM_DIST;
    assert.equal(serverEntry().at(-1), SOURCE_MAIN);
    process.env.CAIRN_FROM_DIST = '0';
    assert.equal(serverEntry().at(-1), SOURCE_MAIN);
  } finally {
    if (saved === undefined) delete process.env.CAIRN_FROM_DIST;
    else process.env.CAIRN_FROM_DIST = saved;
  }
});

test("the sources' digest, which a build records, is a stable sha256", () => {
  const digest = sourcesDigest();
  assert.match(digest, /^[0-9a-f]{64}$/);
  assert.equal(sourcesDigest(), digest);
});

test("a node's identity flags name every peer, and the HTTP address only when given", () => {
  const peers = [
    { id: 1, address: 'h:1' },
    { id: 2, address: 'h:2' },
  ];
  assert.deepEqual(identityFlags({ id: 2, address: 'h:2', clientAddress: 'h:8', dataDir: '/d', peers }), [
    '--id',
    '2',
    '--addr',
    'h:2',
    '--client-addr',
    'h:8',
    '--data-dir',
    '/d',
    '--peer',
    '1=h:1',
    '--peer',
    '2=h:2',
  ]);
  assert.deepEqual(identityFlags({ id: 1, address: 'h:1', dataDir: '/d' }), ['--id', '1', '--addr', 'h:1', '--data-dir', '/d']);
});

/** What `serving` came to: 'serving' or the LaunchError. */
function outcomeOf(serving: Promise<void>): () => 'serving' | LaunchError | undefined {
  let outcome: 'serving' | LaunchError | undefined;
  serving.then(
    () => (outcome = 'serving'),
    (error: LaunchError) => (outcome = error),
  );
  return () => outcome;
}

test('serving resolves once the node announces it serves', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cairn-launch-'));
  const launched = launchNode({ id: 1, address: '127.0.0.1:0', dataDir, args: ['--log-level', 'warn'] });
  try {
    let stdout = '';
    launched.child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    launched.child.stderr.resume();
    assert.equal(await waitFor(outcomeOf(launched.serving), { what: 'the node to serve' }), 'serving');
    assert.match(stdout, new RegExp(SERVING_MARK));
    assert.equal(launched.id, 1);
    assert.equal(launched.dataDir, dataDir);
  } finally {
    const child = launched.child;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('serving rejects with the exit when the node dies first, here under a wrapper command', async () => {
  const launched = launchNode({
    id: 7,
    address: '127.0.0.1:0',
    dataDir: tmpdir(),
    args: ['--no-such-flag'],
    wrapper: ['env', 'CAIRN_LAUNCH_TEST=1'],
  });
  launched.child.stdout.resume();
  launched.child.stderr.resume();
  const outcome = await waitFor(outcomeOf(launched.serving), { what: 'the node to exit' });
  assert.ok(outcome instanceof LaunchError, String(outcome));
  assert.equal(outcome.code, 'EXITED');
  assert.equal(outcome.exitCode, 2);
  assert.match(outcome.message, /node 7 exited with 2 before serving/);
});
