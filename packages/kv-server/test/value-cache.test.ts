// Goal: the state machine's ValueCache stays within its byte bound, evicts
// the oldest-inserted entries first, never keeps a stale value, and a state
// machine with a tiny cache behaves exactly like one without a cache.
// Method: ValueCache on its own with hand-made values and a seeded random
// model check; then two KvStateMachines on real LevelDB in temp dirs (one
// with a 400-byte cache, one with none) fed the same generated entries in
// several batches, compared with each other and with an in-test model of the
// expected values, before and after a snapshot restore. Reads reaching
// LevelDB are counted to show that the cache is really used.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command, CommandResult, type Entry, EntryType } from '@cairn/proto';
import { KvStateMachine, type AppliedResult } from '../src/state-machine/kv-state-machine.js';
import { ValueCache } from '../src/state-machine/value-cache.js';
import type { StoredValue } from '../src/state-machine/records.js';
import { NodeDatabase } from '../src/storage/database.js';
import { KvError } from '../src/errors.js';

const tempDirs: string[] = [];
const openDatabases: NodeDatabase[] = [];
after(async () => {
  await Promise.all(openDatabases.map((database) => database.close()));
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

function stored(text: string, version = 1): StoredValue {
  return { value: Buffer.from(text), version, createIndex: 1, modIndex: version, createRevision: 1, modRevision: version, lease: 0 };
}

/** Bytes the cache charges for an entry with an empty key and no value: its fixed overhead. */
function entryOverhead(): number {
  const probe = new ValueCache(1 << 20);
  probe.set('', null);
  return probe.byteSize;
}

/** Seeded Park-Miller generator (exact in doubles), not Math.random. */
function generator(seed: number): (bound: number) => number {
  let state = seed;
  return (bound) => {
    state = (state * 48271) % 2147483647;
    return state % bound;
  };
}

describe('ValueCache', () => {
  test('get: undefined when not cached, null for a key known absent, the value after set', () => {
    const cache = new ValueCache(10_000);
    assert.equal(cache.get('unknown'), undefined);
    cache.set('gone', null);
    assert.equal(cache.get('gone'), null);
    cache.set('k', stored('v1'));
    assert.deepEqual(cache.get('k'), stored('v1'));
    cache.set('k', stored('v2', 2));
    assert.deepEqual(cache.get('k'), stored('v2', 2));
    cache.set('k', null);
    assert.equal(cache.get('k'), null);
    cache.set('gone', stored('back'));
    assert.deepEqual(cache.get('gone'), stored('back'));
    assert.equal(cache.size, 2);
    assert.equal(cache.get('unknown'), undefined);
  });

  test('stays within its byte bound and evicts the oldest-inserted entries first', () => {
    const overhead = entryOverhead();
    assert.ok(overhead > 0);
    // Every entry below is 'k' + 2 digits with a 40-byte value.
    const entrySize = overhead + 3 + 40;
    const bytesMax = entrySize * 4 + 10;
    const cache = new ValueCache(bytesMax);
    const key = (i: number) => `k${String(i).padStart(2, '0')}`;
    for (let i = 0; i < 50; i++) {
      cache.set(key(i), stored('v'.repeat(38) + String(i).padStart(2, '0')));
      assert.ok(cache.byteSize <= bytesMax, `byteSize ${cache.byteSize} > ${bytesMax} after ${i + 1} inserts`);
      assert.equal(cache.size, Math.min(i + 1, 4));
      assert.equal(cache.byteSize, cache.size * entrySize);
    }
    // Exactly the four newest remain.
    for (let i = 0; i < 46; i++) assert.equal(cache.get(key(i)), undefined, `${key(i)} should have been evicted`);
    for (let i = 46; i < 50; i++) assert.equal(cache.get(key(i))?.value.toString().slice(-2), String(i));
  });

  test('re-setting a key moves it to the newest position', () => {
    const overhead = entryOverhead();
    const entrySize = overhead + 1 + 2; // key 'a'..'e', value 'v0'..
    const cache = new ValueCache(entrySize * 3);
    cache.set('a', stored('v0'));
    cache.set('b', stored('v0'));
    cache.set('c', stored('v0'));
    cache.set('a', stored('v1', 2)); // 'a' is now the newest; 'b' the oldest
    assert.equal(cache.size, 3);
    cache.set('d', stored('v0'));
    assert.equal(cache.get('b'), undefined);
    assert.deepEqual(cache.get('a'), stored('v1', 2));
    assert.ok(cache.get('c'));
    assert.ok(cache.get('d'));
    // A null (known absent) re-set moves the key as well.
    cache.set('c', null);
    cache.set('e', stored('v0'));
    assert.equal(cache.get('a'), undefined);
    assert.equal(cache.get('c'), null);
    assert.ok(cache.get('d'));
    assert.ok(cache.get('e'));
    assert.ok(cache.byteSize <= entrySize * 3);
  });

  test('an entry larger than the whole bound is not cached, drops the old value and evicts nothing else', () => {
    const cache = new ValueCache(1_000);
    cache.set('other', stored('small'));
    cache.set('k', stored('old'));
    const before = cache.byteSize;
    cache.set('k', stored('x'.repeat(2_000), 2));
    assert.equal(cache.get('k'), undefined, 'a stale value must not stay cached');
    assert.deepEqual(cache.get('other'), stored('small'));
    assert.equal(cache.size, 1);
    assert.ok(cache.byteSize < before);
    // Never cached in the first place either.
    cache.set('huge', stored('y'.repeat(1_000)));
    assert.equal(cache.get('huge'), undefined);
    assert.equal(cache.size, 1);
    // A bound of 0 caches nothing, not even a known-absent key.
    const none = new ValueCache(0);
    none.set('k', null);
    none.set('j', stored(''));
    assert.equal(none.get('k'), undefined);
    assert.equal(none.get('j'), undefined);
    assert.equal(none.size, 0);
    assert.equal(none.byteSize, 0);
  });

  test('clear() empties it and the accounting starts over', () => {
    const overhead = entryOverhead();
    const entrySize = overhead + 1 + 1;
    const cache = new ValueCache(entrySize * 2);
    cache.set('a', stored('1'));
    cache.set('b', null);
    cache.clear();
    assert.equal(cache.size, 0);
    assert.equal(cache.byteSize, 0);
    assert.equal(cache.get('a'), undefined);
    assert.equal(cache.get('b'), undefined);
    // Full capacity is available again.
    cache.set('c', stored('3'));
    cache.set('d', stored('4'));
    assert.equal(cache.size, 2);
    assert.equal(cache.byteSize, entrySize * 2);
  });

  test('random sets: never a stale value, never over the bound, byteSize matches the entries', () => {
    const overhead = entryOverhead();
    const next = generator(777);
    const bytesMax = 1_500;
    const cache = new ValueCache(bytesMax);
    const latest = new Map<string, StoredValue | null>();
    const sizeOf = (key: string, value: StoredValue | null) => overhead + key.length + (value?.value.length ?? 0);
    for (let step = 1; step <= 2_000; step++) {
      const key = `key-${next(12)}`;
      const kind = next(10);
      const value = kind === 0 ? null : stored('z'.repeat(kind === 1 ? 1_400 + next(200) : next(300)) + step, step);
      cache.set(key, value);
      latest.set(key, value);
      assert.ok(cache.byteSize <= bytesMax);
      let expectedBytes = 0;
      let present = 0;
      for (const [k, v] of latest) {
        const got = cache.get(k);
        if (got === undefined) continue;
        assert.deepEqual(got, v, `step ${step}: ${k} is stale`);
        expectedBytes += sizeOf(k, v);
        present += 1;
      }
      assert.equal(cache.size, present);
      assert.equal(cache.byteSize, expectedBytes);
      // The entry just set is cached unless it alone exceeds the bound.
      assert.equal(cache.get(key) !== undefined, sizeOf(key, value) <= bytesMax);
    }
  });
});

// ---- the cache inside KvStateMachine ----

const KEYS = ['k0', 'k1', 'k2', 'k3'];
const NEVER_WRITTEN = 'k9';
const CACHE_BYTES = 400;

/** Expected stored value per key. */
type Model = Map<string, StoredValue>;

/** Each model's revision: +1 per command that changed a key. */
const modelRevisions = new WeakMap<Model, number>();

/** The state machine's rules for put/append/delete/cas, written apart from its code. */
function applyToModel(model: Model, entry: Entry): void {
  const command = Command.decode(entry.data);
  const nextRevision = (): number => {
    const revision = (modelRevisions.get(model) ?? 0) + 1;
    modelRevisions.set(model, revision);
    return revision;
  };
  const write = (key: string, value: Buffer) => {
    const previous = model.get(key);
    const revision = nextRevision();
    model.set(key, {
      value,
      version: (previous?.version ?? 0) + 1,
      createIndex: previous?.createIndex ?? entry.index,
      modIndex: entry.index,
      createRevision: previous?.createRevision ?? revision,
      modRevision: revision,
      lease: 0,
    });
  };
  if (command.put) {
    write(command.put.key.toString(), Buffer.from(command.put.value));
  } else if (command.append) {
    const key = command.append.key.toString();
    write(key, Buffer.concat([model.get(key)?.value ?? Buffer.alloc(0), command.append.value]));
  } else if (command.delete) {
    if (model.delete(command.delete.key.toString())) nextRevision();
  } else if (command.cas) {
    const key = command.cas.key.toString();
    const current = model.get(key);
    const matches =
      command.cas.expectedVersion !== undefined
        ? (current?.version ?? 0) === command.cas.expectedVersion
        : current !== undefined && current.value.equals(command.cas.expectedValue!);
    if (matches) write(key, Buffer.from(command.cas.value));
  } else {
    assert.fail(`entry ${entry.index} has no operation`);
  }
}

function entryOf(index: number, operation: Partial<Command>): Entry {
  const command: Command = { proposedAtMs: index * 1_000, valueBytesMax: 0, ...operation };
  return { index, term: 1, type: EntryType.NORMAL, data: Buffer.from(Command.encode(command).finish()) };
}

/**
 * `count` entries from index `from`: a seeded mix of puts (small, and larger
 * than the whole cache), appends that grow values past the cache bound,
 * deletes, and cas by version and by value (both matching and not) over a
 * few keys. `model` is the state before `from` and is advanced.
 */
function workload(model: Model, from: number, count: number, seed: number): Entry[] {
  const next = generator(seed);
  const entries: Entry[] = [];
  for (let index = from; index < from + count; index++) {
    const keyText = KEYS[next(KEYS.length)]!;
    const key = Buffer.from(keyText);
    const current = model.get(keyText);
    const value = (length: number) => Buffer.from(`${index}:${'x'.repeat(length)}`);
    const op = next(10);
    let operation: Partial<Command>;
    if (op <= 2) operation = { put: { key, value: value(next(50)), prevKv: true } };
    else if (op === 3) operation = { put: { key, value: value(CACHE_BYTES + next(100)), prevKv: false } };
    else if (op <= 5) operation = { append: { key, value: value(5 + next(80)) } };
    else if (op === 6) operation = { delete: { key } };
    else if (op === 7) operation = { cas: { key, expectedVersion: (current?.version ?? 0) + next(2), value: value(next(40)) } };
    else {
      const expectedValue = current !== undefined && next(2) === 0 ? current.value : Buffer.from('nope');
      operation = { cas: { key, expectedValue, value: value(next(40)) } };
    }
    const entry = entryOf(index, operation);
    applyToModel(model, entry);
    entries.push(entry);
  }
  return entries;
}

interface Opened {
  machine: KvStateMachine;
  /** LevelDB point reads (get and getMany calls) so far. */
  reads: () => number;
}

async function openMachine(nodeId: number, valueCacheBytes: number): Promise<Opened> {
  const dir = await mkdtemp(path.join(tmpdir(), 'cairn-value-cache-'));
  tempDirs.push(dir);
  const database = await NodeDatabase.open(dir, { clusterId: 'value-cache', nodeId });
  openDatabases.push(database);
  const db = database.db;
  let reads = 0;
  const get = db.get.bind(db);
  const getMany = db.getMany.bind(db);
  db.get = ((...args: Parameters<typeof get>) => {
    reads += 1;
    return get(...args);
  }) as typeof db.get;
  db.getMany = ((...args: Parameters<typeof getMany>) => {
    reads += 1;
    return getMany(...args);
  }) as typeof db.getMany;
  return { machine: await KvStateMachine.open(database, { valueCacheBytes, snapshotChunkBytes: 256 }), reads: () => reads };
}

function encodeResults(results: AppliedResult[]): Array<[number, string]> {
  return results.map(({ index, result }) => {
    assert.ok(!(result instanceof KvError), `entry ${index} failed: ${String(result)}`);
    return [index, Buffer.from(CommandResult.encode(result as CommandResult).finish()).toString('hex')];
  });
}

async function assertReadsMatch(machine: KvStateMachine, expected: Model, label: string): Promise<void> {
  assert.equal(machine.keyCount(), expected.size, `${label}: keyCount`);
  for (const key of [...KEYS, NEVER_WRITTEN]) {
    const want = expected.get(key);
    assert.deepEqual(
      await machine.get(Buffer.from(key)),
      want === undefined ? undefined : { key: Buffer.from(key), ...want },
      `${label}: ${key}`,
    );
  }
}

async function snapshotBytes(machine: KvStateMachine): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of machine.snapshot()) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/**
 * Applies `entries` to every machine in batches of the given sizes (cycled).
 * After each batch: identical results on every machine, and every key reads
 * as the model says. `model` is the state before the entries and is advanced.
 */
async function applyInBatches(machines: Opened[], entries: Entry[], sizes: number[], model: Model, label: string): Promise<void> {
  let offset = 0;
  for (let batch = 0; offset < entries.length; batch++) {
    const slice = entries.slice(offset, offset + sizes[batch % sizes.length]!);
    offset += slice.length;
    const lastIndex = slice.at(-1)!.index;
    const results: Array<Array<[number, string]>> = [];
    for (const { machine } of machines) results.push(encodeResults(await machine.applyEntries(slice)));
    for (const other of results.slice(1))
      assert.deepEqual(other, results[0], `${label}: results differ in the batch ending at ${lastIndex}`);
    for (const entry of slice) applyToModel(model, entry);
    for (const [i, { machine }] of machines.entries()) {
      assert.equal(machine.appliedIndex(), lastIndex);
      await assertReadsMatch(machine, model, `${label}, machine ${i}, after index ${lastIndex}`);
    }
  }
}

describe('KvStateMachine with a tiny value cache', () => {
  test('gives the same results and reads as no cache, also after a snapshot restore either way', async () => {
    const cached = await openMachine(1, CACHE_BYTES);
    const plain = await openMachine(2, 0);
    const both = [cached, plain];

    // Phase 1: entries 1..80 to both, in uneven batches.
    const phase1 = workload(new Map(), 1, 80, 4242);
    // The workload covers what the cache must get right.
    const commands = phase1.map((entry) => Command.decode(entry.data));
    assert.ok(commands.some((c) => c.delete));
    assert.ok(commands.some((c) => c.append));
    assert.ok(commands.some((c) => c.cas?.expectedVersion !== undefined));
    assert.ok(commands.some((c) => c.cas?.expectedValue !== undefined));
    assert.ok(commands.some((c) => (c.put?.value.length ?? 0) > CACHE_BYTES));
    const model: Model = new Map();
    let grewPastCache = false;
    for (const [i, entry] of phase1.entries()) {
      applyToModel(model, entry);
      const appended = commands[i]!.append?.key.toString();
      if (appended !== undefined && (model.get(appended)?.value.length ?? 0) > CACHE_BYTES) grewPastCache = true;
    }
    assert.ok(grewPastCache, 'some append should grow a value past the cache bound');

    const expected: Model = new Map();
    await applyInBatches(both, phase1, [1, 3, 2, 7, 1, 5, 4], expected, 'phase 1');
    assert.deepEqual(await snapshotBytes(cached.machine), await snapshotBytes(plain.machine));
    // The cache was really used: fewer LevelDB reads for the same work.
    assert.ok(cached.reads() < plain.reads(), `cached machine: ${cached.reads()} reads, uncached: ${plain.reads()}`);

    // Phase 2: the cached machine caches k0 = 'hot-in-cache' (its own entry 81)...
    await cached.machine.applyEntries([
      entryOf(81, { put: { key: Buffer.from('k0'), value: Buffer.from('hot-in-cache'), prevKv: false } }),
    ]);
    const readsBefore = cached.reads();
    assert.equal((await cached.machine.get(Buffer.from('k0')))?.value.toString(), 'hot-in-cache');
    assert.equal(cached.reads(), readsBefore, 'k0 should have been served from the cache');
    // ...while the uncached one applies other entries 81..91 that end with k0 = 'from-the-snapshot'...
    const phase2 = workload(new Map(expected), 81, 10, 777);
    phase2.push(entryOf(91, { put: { key: Buffer.from('k0'), value: Buffer.from('from-the-snapshot'), prevKv: false } }));
    await applyInBatches([plain], phase2, [4, 7], expected, 'phase 2 (uncached)');
    // ...and the cached machine restores the uncached one's snapshot: no cached value may survive.
    await cached.machine.restore(await snapshotBytes(plain.machine), 91);
    assert.equal(cached.machine.appliedIndex(), 91);
    await assertReadsMatch(cached.machine, expected, 'cached machine after restore');
    assert.equal((await cached.machine.get(Buffer.from('k0')))?.value.toString(), 'from-the-snapshot');
    assert.deepEqual(await snapshotBytes(cached.machine), await snapshotBytes(plain.machine));

    // Phase 3: the cached machine runs ahead (92..111), the uncached one restores from it,
    // then both continue in lockstep (112..141).
    const phase3 = workload(new Map(expected), 92, 50, 99);
    await applyInBatches([cached], phase3.slice(0, 20), [3, 5], expected, 'phase 3 (cached alone)');
    await plain.machine.restore(await snapshotBytes(cached.machine), 111);
    await assertReadsMatch(plain.machine, expected, 'uncached machine after restore');
    await applyInBatches(both, phase3.slice(20), [2, 1, 6], expected, 'phase 3');
    assert.deepEqual(await snapshotBytes(cached.machine), await snapshotBytes(plain.machine));
  });
});
