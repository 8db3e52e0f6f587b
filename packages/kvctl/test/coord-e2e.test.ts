// Goal: the coordination commands of the real `kvctl` executable work against
// a real cluster: watch prints each change live (JSON lines) and exits 0 on
// SIGINT; lease grant/ttl/list/revoke (revoke deletes the attached key);
// lock runs a command while holding the lock and releases it after; txn from
// the text form on stdin; compact then get --rev below it is COMPACTED, exit 8.
// Method: spawn `node bin/kvctl.js` against one 3-node TestCluster; a watch
// starts from a known revision (--rev), so no event can be missed by racing it.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster, waitFor } from '@cairn/testkit';
import { EXIT_NOT_FOUND, EXIT_OK, EXIT_PRECONDITION_FAILED, EXIT_REVISION } from '../src/exit-codes.js';
import { RUN_DEADLINE_MS, kvctl, spawnKvctl } from './kvctl-process.js';

describe('kvctl coordination commands against a real 3-node cluster', () => {
  let cluster: TestCluster;
  let endpoints: string;
  const run = (args: readonly string[], stdin?: string) => kvctl(['--endpoints', endpoints, ...args], stdin === undefined ? {} : { stdin });
  /** The key's mod revision, from `get --output json`. */
  const modRevision = async (key: string): Promise<number> => {
    const got = await run(['--output', 'json', 'get', key]);
    assert.equal(got.code, EXIT_OK, got.stderr);
    return (JSON.parse(got.stdout) as { modRevision: number }).modRevision;
  };

  before(async () => {
    cluster = await TestCluster.start({ size: 3 });
    await cluster.waitForLeader();
    endpoints = cluster.nodes.map((node) => node.grpcAddress).join(',');
  });

  after(async () => {
    await cluster.stop();
  });

  test('watch --prefix --rev prints each change as a JSON line, and exits 0 on SIGINT', async () => {
    assert.equal((await run(['put', 'w/a', '1'])).code, EXIT_OK);
    const from = await modRevision('w/a');
    const watch = spawnKvctl(['--endpoints', endpoints, '--output', 'json', 'watch', 'w/', '--prefix', '--rev', String(from), '--prev-kv']);
    try {
      assert.equal((await run(['put', 'w/b', '2'])).code, EXIT_OK);
      assert.equal((await run(['del', 'w/a'])).code, EXIT_OK);
      const lines = await waitFor(
        () => {
          const complete = watch.output.stdout.split('\n').slice(0, -1);
          return complete.length >= 3 ? complete : undefined;
        },
        { deadlineMs: RUN_DEADLINE_MS, what: `three watch events (stdout ${watch.output.stdout}, stderr ${watch.output.stderr})` },
      );
      const events = lines.map(
        (line) => JSON.parse(line) as { type: string; key: string; revision: number; prevKv: { value: string } | null },
      );
      assert.deepEqual(
        events.map((event) => [event.type, event.key]),
        [
          ['put', 'w/a'],
          ['put', 'w/b'],
          ['delete', 'w/a'],
        ],
      );
      assert.equal(events[0]!.revision, from);
      assert.ok(events[1]!.revision < events[2]!.revision, 'ordered by revision');
      assert.equal(events[2]!.prevKv?.value, '1', 'a delete carries the value before it with --prev-kv');
    } finally {
      watch.child.kill('SIGINT');
    }
    const exited = await watch.exited;
    assert.deepEqual([exited.code, exited.stderr], [EXIT_OK, '']);
  });

  test('lease grant, put --lease, ttl --keys, list, revoke (deletes the key), then not found', async () => {
    const grant = await run(['lease', 'grant', '60']);
    assert.equal(grant.code, EXIT_OK, grant.stderr);
    const id = /^lease (\d+) granted with TTL (\d+)s$/.exec(grant.stdout.trim())?.[1];
    assert.ok(id, grant.stdout);
    assert.equal((await run(['put', 'l/k', 'v', '--lease', id])).code, EXIT_OK);
    const ttl = await run(['lease', 'ttl', id, '--keys']);
    assert.equal(ttl.code, EXIT_OK, ttl.stderr);
    assert.match(ttl.stdout, new RegExp(`^lease ${id} granted with TTL 60s, remaining \\d+s, attached keys: l/k$`, 'm'));
    const list = await run(['lease', 'list']);
    assert.ok(list.stdout.split('\n').includes(id), list.stdout);
    const revoke = await run(['lease', 'revoke', id]);
    assert.deepEqual([revoke.code, revoke.stdout], [EXIT_OK, `lease ${id} revoked (1 key deleted)\n`]);
    assert.equal((await run(['get', 'l/k'])).code, EXIT_NOT_FOUND, 'revoking the lease deleted its key');
    const again = await run(['lease', 'revoke', id]);
    assert.equal(again.code, EXIT_NOT_FOUND, again.stderr);
    assert.match(again.stderr, /^error: LEASE_NOT_FOUND: /);
  });

  test('lock runs the command holding the lock (key and fencing revision in its env), exits with its code, releases after', async () => {
    const script = 'process.stdout.write(`${process.env.CAIRN_LOCK_KEY} ${process.env.CAIRN_LOCK_REVISION}`); process.exit(3)';
    const locked = await run(['lock', 'jobs', '--', process.execPath, '-e', script]);
    assert.equal(locked.code, 3, locked.stderr);
    const [key, revision] = locked.stdout.split(' ');
    assert.match(key!, /^jobs\//);
    assert.match(locked.stderr, new RegExp(`^locked ${key} \\(fencing revision ${revision}\\)$`, 'm'));
    const left = await run(['range', 'jobs/']);
    assert.deepEqual([left.code, left.stdout], [EXIT_OK, ''], 'the lock key is gone once the command ended');
    const next = await run(['lock', 'jobs', '--', process.execPath, '-e', 'process.stdout.write(process.env.CAIRN_LOCK_REVISION)']);
    assert.equal(next.code, EXIT_OK, next.stderr);
    assert.ok(Number(next.stdout) > Number(revision), 'fencing revisions increase from holder to holder');
  });

  test('elect: a candidate leads until SIGINT, an observer prints each leader, the next candidate then leads', async () => {
    const args = ['--endpoints', endpoints, 'elect', 'e2e-election'];
    const observer = spawnKvctl(args);
    const first = spawnKvctl([...args, 'alpha']);
    const second = { current: undefined as ReturnType<typeof spawnKvctl> | undefined };
    try {
      await waitFor(() => first.output.stdout.startsWith('elected: alpha'), { deadlineMs: RUN_DEADLINE_MS, what: 'alpha elected' });
      second.current = spawnKvctl([...args, 'beta']);
      await waitFor(() => observer.output.stdout.includes('alpha\n'), { deadlineMs: RUN_DEADLINE_MS, what: 'the observer sees alpha' });
      assert.equal(second.current.output.stdout, '', 'no second leader while the first leads');
      first.child.kill('SIGINT');
      assert.equal((await first.exited).code, EXIT_OK);
      await waitFor(() => second.current!.output.stdout.startsWith('elected: beta'), { deadlineMs: RUN_DEADLINE_MS, what: 'beta elected' });
      await waitFor(() => observer.output.stdout.endsWith('alpha\nbeta\n'), {
        deadlineMs: RUN_DEADLINE_MS,
        what: 'the observer sees beta',
      });
    } finally {
      for (const child of [observer, first, second.current]) child?.child.kill('SIGINT');
    }
    for (const child of [observer, second.current!]) assert.deepEqual([(await child.exited).code, child.output.stderr], [EXIT_OK, '']);
  });

  test('txn from the text form: SUCCESS runs the then-ops (exit 0), FAILURE the else-ops (exit 5)', async () => {
    assert.equal((await run(['put', 't/k', 'v1'])).code, EXIT_OK);
    const success = await run(['txn'], 'value("t/k") = "v1"\n\nput t/k v2\nget t/k\n\nget t/k\n');
    assert.equal(success.code, EXIT_OK, success.stderr);
    assert.match(success.stdout, /^SUCCESS \(revision \d+\)\nOK \(version 2\)\nt\/k\tv2\n$/);
    const failure = await run(['txn'], 'value("t/k") = "v1"\n\nput t/k v3\n\nget t/k\n');
    assert.equal(failure.code, EXIT_PRECONDITION_FAILED, failure.stderr);
    assert.match(failure.stdout, /^FAILURE \(revision \d+\)\nt\/k\tv2\n$/);
    const bad = await run(['txn'], 'size("t/k") = 1\n');
    assert.equal(bad.code, 2, 'a syntax error is a usage error');
    assert.match(bad.stderr, /^error: USAGE: txn: line 1: unknown compare target size/);
  });

  test('compact, then get --rev below the compacted revision: COMPACTED, exit 8; at it: the old value', async () => {
    assert.equal((await run(['put', 'c/k', 'old'])).code, EXIT_OK);
    const first = await modRevision('c/k');
    assert.equal((await run(['put', 'c/k', 'new'])).code, EXIT_OK);
    const second = await modRevision('c/k');
    const compact = await run(['compact', String(second)]);
    assert.deepEqual([compact.code, compact.stdout], [EXIT_OK, `compacted at revision ${second}\n`], compact.stderr);
    const below = await run(['get', 'c/k', '--rev', String(first)]);
    assert.equal(below.code, EXIT_REVISION, below.stderr);
    assert.match(below.stderr, /^error: COMPACTED: .*\d/);
    const at = await run(['get', 'c/k', '--rev', String(second)]);
    assert.deepEqual([at.code, at.stdout], [EXIT_OK, 'new\n']);
  });
});
