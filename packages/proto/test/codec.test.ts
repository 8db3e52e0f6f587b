// Goal: the generated codecs round-trip the types every package relies on,
// keep bytes exact, and refuse 64-bit values JavaScript numbers cannot hold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { Entry, EntryType, Message, MessageType, Command } from '../src/index.js';

test('a raft message with entries round-trips', () => {
  const message = Message.fromPartial({
    type: MessageType.APP,
    from: 1,
    to: 2,
    term: 7,
    logTerm: 6,
    index: 41,
    commit: 40,
    entries: [{ term: 7, index: 42, type: EntryType.NORMAL, data: Buffer.from('x') }],
  });
  const decoded = Message.decode(Message.encode(message).finish());
  assert.deepEqual(decoded, message);
});

test('keys keep invalid UTF-8 bytes exactly', () => {
  const key = Buffer.from([0xff, 0xfe, 0x00, 0x41]);
  const decoded = Command.decode(
    Command.encode({ proposedAtMs: 1, valueBytesMax: 0, put: { key, value: Buffer.alloc(0), prevKv: false } }).finish(),
  );
  assert.deepEqual(decoded.put?.key, key);
});

test('a uint64 above 2^53 - 1 is rejected, not rounded', () => {
  // Field 1 (term), varint 2^53 + 1.
  const bytes = new BinaryWriter()
    .uint32(8)
    .uint64(2n ** 53n + 1n)
    .finish();
  assert.throws(() => Entry.decode(bytes), /MAX_SAFE_INTEGER/);
});
