// Goal: a state machine snapshot restores to identical state, is
// deterministic, is consistent while applying continues, and a damaged
// stream is refused without touching the current state.
// Method: real LevelDB in temp dirs; apply the same generated entries to two
// machines, compare snapshot bytes; restore into a third and compare reads.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command, type Entry, EntryType } from '@cairn/proto';
import { KvStateMachine } from '../src/state-machine/kv-state-machine.js';
import { NodeDatabase } from '../src/storage/database.js';
import { CorruptionError } from '../src/errors.js';

const tempDirs: string[] = [];
const openDatabases: NodeDatabase[] = [];
after(async () => {
  await Promise.all(openDatabases.map((database) => database.close()));
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function newMachine(nodeId: number): Promise<KvStateMachine> {
  const dir = await mkdtemp(path.join(tmpdir(), 'cairn-snap-'));
  tempDirs.push(dir);
  const database = await NodeDatabase.open(dir, { clusterId: 'snap', nodeId });
  openDatabases.push(database);
  // Tiny chunks so records span chunk boundaries.
  return KvStateMachine.open(database, { snapshotChunkBytes: 97, sessionsMax: 5, sessionTtlMs: 50_000 });
}

/** A deterministic mixed workload (a fixed-seed generator, not Math.random). */
function workload(count: number): Entry[] {
  let seed = 12345;
  const next = (bound: number) => {
    seed = (seed * 48271) % 2147483647; // Park-Miller: exact in doubles
    return seed % bound;
  };
  const entries: Entry[] = [];
  for (let index = 1; index <= count; index++) {
    const key = Buffer.from(`key-${next(60)}`);
    const value = Buffer.from('v'.repeat(next(40)) + index);
    const op = next(4);
    const command: Command = {
      proposedAtMs: index * 1_000,
      valueBytesMax: 0,
      session: { clientId: `client-${next(8)}`, seq: index },
      ...(op === 0 ? { put: { key, value, prevKv: false } } : {}),
      ...(op === 1 ? { append: { key, value } } : {}),
      ...(op === 2 ? { delete: { key } } : {}),
      ...(op === 3 ? { cas: { key, expectedVersion: next(3), value } } : {}),
    };
    entries.push({ index, term: 1, type: EntryType.NORMAL, data: Buffer.from(Command.encode(command).finish()) });
  }
  return entries;
}

async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

test('two machines applying the same entries produce identical snapshots, and a restore reproduces the state', async () => {
  const entries = workload(300);
  const first = await newMachine(1);
  const second = await newMachine(2);
  // Different batch boundaries must not change the outcome.
  for (let start = 0; start < entries.length; start += 7) await first.applyEntries(entries.slice(start, start + 7));
  await second.applyEntries(entries);
  const firstChunks = await collect(first.snapshot());
  const secondChunks = await collect(second.snapshot());
  assert.ok(firstChunks.length > 10, `only ${firstChunks.length} chunks`);
  assert.ok(first.keyCount() > 10);
  assert.ok(first.sessionCount() > 1);
  assert.ok(firstChunks.every((chunk) => chunk.length <= 97));
  assert.deepEqual(Buffer.concat(firstChunks), Buffer.concat(secondChunks));

  const restored = await newMachine(3);
  await restored.applyEntries(workload(5)); // prior state that the restore must discard
  await restored.restore(firstChunks, 300);
  assert.equal(restored.appliedIndex(), 300);
  assert.equal(restored.keyCount(), first.keyCount());
  assert.equal(restored.sessionCount(), first.sessionCount());
  const none = Buffer.alloc(0);
  assert.deepEqual(await restored.range(none, none, 0, false), await first.range(none, none, 0, false));
  assert.deepEqual(Buffer.concat(await collect(restored.snapshot())), Buffer.concat(firstChunks));

  // After the restore both continue identically.
  const more = workload(320).slice(300);
  await first.applyEntries(more);
  await restored.applyEntries(more);
  assert.deepEqual(Buffer.concat(await collect(restored.snapshot())), Buffer.concat(await collect(first.snapshot())));
});

test('a snapshot is a consistent view even while applying continues', async () => {
  const machine = await newMachine(4);
  const entries = workload(60);
  await machine.applyEntries(entries.slice(0, 40));
  const expected = Buffer.concat(await collect(machine.snapshot()));
  const stream = machine.snapshot();
  await machine.applyEntries(entries.slice(40));
  assert.deepEqual(Buffer.concat(await collect(stream)), expected);
});

test('a damaged snapshot stream is refused and the current state stays', async () => {
  const source = await newMachine(5);
  await source.applyEntries(workload(50));
  const bytes = Buffer.concat(await collect(source.snapshot()));
  const target = await newMachine(6);
  await target.applyEntries(workload(10));
  const before = Buffer.concat(await collect(target.snapshot()));

  const flipped = Buffer.from(bytes);
  flipped[Math.floor(flipped.length / 2)]! ^= 0x40;
  await assert.rejects(target.restore(flipped), CorruptionError);
  await assert.rejects(target.restore(bytes.subarray(0, bytes.length - 3)), /ends before its trailer/);
  await assert.rejects(target.restore(bytes, 49), /index 50/);
  assert.equal(target.appliedIndex(), 10);
  assert.deepEqual(Buffer.concat(await collect(target.snapshot())), before);
});
