// Goal: encodeToBuffer gives exactly the codec's bytes, results never share
// memory with each other, and a failed encode does not spoil the next one.
// Method: encode real messages through the shared writer and compare with a
// fresh writer's output.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Entry, EntryType, HardState, encodeToBuffer } from '../src/index.js';

describe('encodeToBuffer', () => {
  test('matches the codec byte for byte, and earlier results survive later encodes', () => {
    const entries = Array.from({ length: 50 }, (_, i) => ({ term: 3, index: i + 1, type: EntryType.NORMAL, data: Buffer.alloc(i * 40, i) }));
    const encoded = entries.map((entry) => encodeToBuffer(Entry, entry));
    encoded.forEach((bytes, i) => {
      assert.ok(Buffer.isBuffer(bytes));
      assert.deepEqual(bytes, Buffer.from(Entry.encode(entries[i]!).finish()), `entry ${i + 1}`);
      assert.deepEqual(Entry.decode(bytes), entries[i]);
    });
  });

  test('a message that fails to encode leaves the next encode intact', () => {
    // A bigint-incompatible value makes the writer throw half-way through a message.
    assert.throws(() => encodeToBuffer(Entry, { term: 1, index: 2, type: EntryType.NORMAL, data: 42 as unknown as Buffer }));
    const state = { term: 7, vote: 2, commit: 9 };
    assert.deepEqual(HardState.decode(encodeToBuffer(HardState, state)), state);
  });
});
