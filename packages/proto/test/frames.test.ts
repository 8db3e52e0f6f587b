// Goal: the frames of Cairn's raw links come out as they went in, however
// TCP splits the bytes, and an oversized length is refused before buffering.
// Messages are framed in place, exactly as framing their encoding would be,
// and a MessageReader hands back the messages before a bad frame with the
// reason to close the link.
// Method: a frame stream cut at every byte position; real Cairn messages.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BatchAck,
  encodeFrame,
  encodeMessageFrame,
  encodeToBuffer,
  Entry,
  EntryType,
  FrameReader,
  FrameTooLargeError,
  MessageReader,
} from '../src/index.js';

describe('FrameReader', () => {
  test('yields the same frames however the bytes are split', () => {
    const payloads = [Buffer.from('a'), Buffer.alloc(0), Buffer.alloc(300, 7), Buffer.from('last frame')];
    const stream = Buffer.concat(payloads.map((p) => encodeFrame(p)));
    for (let cut = 0; cut <= stream.length; cut++) {
      const reader = new FrameReader(1024);
      const frames = [...reader.push(stream.subarray(0, cut)), ...reader.push(stream.subarray(cut))];
      assert.deepEqual(
        frames.map((f) => Buffer.from(f).toString('hex')),
        payloads.map((p) => p.toString('hex')),
        `cut at ${cut}`,
      );
    }
  });

  test('yields the same frames from one byte at a time, and from uneven chunks', () => {
    const payloads = [Buffer.alloc(70_000, 1), Buffer.from('x'), Buffer.alloc(0), Buffer.alloc(5000, 2)];
    const stream = Buffer.concat(payloads.map((p) => encodeFrame(p)));
    for (const size of [1, 3, 4, 5, 4093, 65_536]) {
      const reader = new FrameReader(1 << 20);
      const frames: Buffer[] = [];
      for (let at = 0; at < stream.length; at += size) frames.push(...reader.push(stream.subarray(at, at + size)));
      assert.deepEqual(
        frames.map((f) => Buffer.from(f).toString('hex')),
        payloads.map((p) => p.toString('hex')),
        `chunks of ${size}`,
      );
    }
  });

  test('refuses a length over the limit before buffering it', () => {
    const reader = new FrameReader(16);
    assert.throws(() => reader.push(encodeFrame(Buffer.alloc(17))), FrameTooLargeError);
    // The same when the header itself arrives in pieces after a complete frame.
    const split = new FrameReader(16);
    const oversized = encodeFrame(Buffer.alloc(17));
    assert.equal(split.push(Buffer.concat([encodeFrame(Buffer.from('ok')), oversized.subarray(0, 2)])).length, 1);
    assert.throws(() => split.push(oversized.subarray(2, 4)), FrameTooLargeError);
  });
});

describe('message frames', () => {
  test('encodeMessageFrame equals the framed encoding, and leaves nothing behind for the next encode', () => {
    const entries = Array.from({ length: 20 }, (_, i) => ({
      term: 2,
      index: i + 1,
      type: EntryType.NORMAL,
      data: Buffer.alloc(i * 100, i),
    }));
    for (const entry of entries) {
      assert.deepEqual(encodeMessageFrame(Entry, entry), encodeFrame(Entry.encode(entry).finish()));
      assert.deepEqual(encodeToBuffer(Entry, entry), Buffer.from(Entry.encode(entry).finish()), 'no stray prefix');
    }
  });

  test('a MessageReader returns the messages before a bad frame, and why the link must close', () => {
    const reader = new MessageReader(BatchAck, 'BatchAck', 1024);
    const good = [encodeMessageFrame(BatchAck, { sequence: 1 }), encodeMessageFrame(BatchAck, { sequence: 2 })];
    const bad = encodeFrame(Buffer.from([0xff, 0xff, 0xff]));
    const { messages, error } = reader.push(Buffer.concat([...good, bad, encodeMessageFrame(BatchAck, { sequence: 3 })]));
    assert.deepEqual(
      messages.map((m) => m.sequence),
      [1, 2],
    );
    assert.equal(error, 'a frame that is not a BatchAck');
    const oversized = new MessageReader(BatchAck, 'BatchAck', 16).push(encodeFrame(Buffer.alloc(17)));
    assert.deepEqual(oversized.messages, []);
    assert.match(oversized.error ?? '', /exceeds the 16-byte limit/);
  });
});
