// Goal: the frames of Cairn's raw links come out as they went in, however
// TCP splits the bytes, and an oversized length is refused before buffering.
// Method: a frame stream cut at every byte position.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFrame, FrameReader, FrameTooLargeError } from '../src/index.js';

describe('FrameReader', () => {
  test('yields the same frames however the bytes are split', () => {
    const payloads = [Buffer.from('a'), Buffer.alloc(0), Buffer.alloc(300, 7), Buffer.from('last frame')];
    const stream = Buffer.concat(payloads.map((p) => encodeFrame(p)));
    for (let cut = 0; cut <= stream.length; cut++) {
      const reader = new FrameReader(1024);
      const frames = [...reader.push(stream.subarray(0, cut)), ...reader.push(stream.subarray(cut))];
      assert.deepEqual(frames.map((f) => Buffer.from(f).toString('hex')), payloads.map((p) => p.toString('hex')), `cut at ${cut}`);
    }
  });

  test('refuses a length over the limit before buffering it', () => {
    const reader = new FrameReader(16);
    assert.throws(() => reader.push(encodeFrame(Buffer.alloc(17))), FrameTooLargeError);
  });
});
