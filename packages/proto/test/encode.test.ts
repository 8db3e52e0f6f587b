// Goal: encodeToBuffer gives exactly the codec's bytes, results never share
// memory with each other, and a failed encode does not spoil the next one.
// Method: encode real messages through the shared writer and compare with a
// fresh writer's output.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Entry, EntryType, HardState, encodeToBuffer } from '../src/index.js';
import * as encode from '../src/encode.js';

describe('encodeToBuffer', () => {
  test('matches the codec byte for byte, and earlier results survive later encodes', () => {
    const entries = Array.from({ length: 50 }, (_, i) => ({
      term: 3,
      index: i + 1,
      type: EntryType.NORMAL,
      data: Buffer.alloc(i * 40, i),
    }));
    const encoded = entries.map((entry) => encodeToBuffer(Entry, entry));
    encoded.forEach((bytes, i) => {
      assert.ok(Buffer.isBuffer(bytes));
      assert.deepEqual(bytes, Buffer.from(Entry.encode(entries[i]!).finish()), `entry ${i + 1}`);
      assert.deepEqual(Entry.decode(bytes), entries[i]);
    });
  });

  test("encoding copies the shared writer's bytes out, without finish()'s fresh ArrayBuffer", () => {
    const first = encodeToBuffer(HardState, { term: 1, vote: 2, commit: 3 });
    // Fails if @bufbuild/protobuf renamed the writer's internals: encoding then
    // falls back to finish(), one ArrayBuffer per message again.
    assert.equal(encode.pooledEncoding, true);
    const second = encodeToBuffer(HardState, { term: 4, vote: 5, commit: 6 });
    assert.equal(encode.pooledEncoding, true);
    assert.deepEqual(termVoteCommit(first), { term: 1, vote: 2, commit: 3 });
    assert.deepEqual(termVoteCommit(second), { term: 4, vote: 5, commit: 6 });
  });

  test('prefix bytes come first and are zero', () => {
    const state = { term: 8, vote: 1, commit: 5 };
    const framed = encodeToBuffer(HardState, state, 4);
    assert.deepEqual([...framed.subarray(0, 4)], [0, 0, 0, 0]);
    assert.deepEqual(framed.subarray(4), Buffer.from(HardState.encode(state).finish()));
  });

  test('a message that fails to encode leaves the next encode intact', () => {
    // A bigint-incompatible value makes the writer throw half-way through a message.
    assert.throws(() => encodeToBuffer(Entry, { term: 1, index: 2, type: EntryType.NORMAL, data: 42 as unknown as Buffer }));
    const state = { term: 7, vote: 2, commit: 9 };
    assert.deepEqual(termVoteCommit(encodeToBuffer(HardState, state)), state);
  });
});

/** The three fields these tests encode (decoding also sets HardState's absent optional fields, as undefined). */
function termVoteCommit(bytes: Uint8Array): { term: number; vote: number; commit: number } {
  const { term, vote, commit } = HardState.decode(bytes);
  return { term, vote, commit };
}
