// Goal: stored records round-trip and any damage (flipped byte, wrong key,
// truncation, unknown format) is detected as CorruptionError naming the record.
// Method: encode/decode in memory, mutate the bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRecord, encodeRecord, RECORD_HEADER_BYTES, sealRecord } from '../src/storage/codec.js';
import { logIndexOfKey, logKey, prefixEnd } from '../src/storage/keys.js';
import { readU64BE, writeU64BE } from '../src/storage/u64.js';
import { CorruptionError } from '../src/errors.js';

const source = { dataDir: '/data/n1', what: 'log entry 7' };

test('a record round-trips', () => {
  const payload = Buffer.from('hello');
  assert.deepEqual(decodeRecord(logKey(7), encodeRecord(logKey(7), payload), source), payload);
  assert.deepEqual(decodeRecord(logKey(7), encodeRecord(logKey(7), Buffer.alloc(0)), source), Buffer.alloc(0));
});

test('a record sealed in place equals one framed by copy', () => {
  const payload = Buffer.from('sealed payload');
  const reserved = Buffer.concat([Buffer.alloc(RECORD_HEADER_BYTES, 0xff), payload]);
  assert.deepEqual(sealRecord(logKey(9), reserved), encodeRecord(logKey(9), payload));
  assert.deepEqual(decodeRecord(logKey(9), reserved, source), payload);
});

test('u64 fields round-trip across the 32-bit boundary and match the BigInt encoding', () => {
  for (const value of [0, 1, 0xffff_ffff, 0x1_0000_0000, 0x1_2345_6789_abcd, Number.MAX_SAFE_INTEGER]) {
    const bytes = Buffer.alloc(10);
    writeU64BE(bytes, value, 2);
    assert.equal(readU64BE(bytes, 2), value);
    assert.equal(bytes.readBigUInt64BE(2), BigInt(value));
  }
  assert.equal(logIndexOfKey(logKey(0x1_0000_0001)), 0x1_0000_0001);
  assert.throws(() => writeU64BE(Buffer.alloc(8), -1, 0), RangeError);
  assert.throws(() => writeU64BE(Buffer.alloc(8), 1.5, 0), RangeError);
});

test('every single flipped bit is detected', () => {
  const record = encodeRecord(logKey(7), Buffer.from('payload'));
  for (let byte = 0; byte < record.length; byte++) {
    for (let bit = 0; bit < 8; bit++) {
      const damaged = Buffer.from(record);
      damaged[byte]! ^= 1 << bit;
      assert.throws(() => decodeRecord(logKey(7), damaged, source), CorruptionError);
    }
  }
});

test('a record under the wrong key, or truncated, is rejected with a clear message', () => {
  const record = encodeRecord(logKey(7), Buffer.from('payload'));
  assert.throws(() => decodeRecord(logKey(8), record, source), /data dir \/data\/n1 is corrupt: log entry 7 failed its checksum/);
  assert.throws(() => decodeRecord(logKey(7), record.subarray(0, 3), source), /truncated/);
});

test('prefixEnd bounds a prefix range', () => {
  assert.deepEqual(prefixEnd(Buffer.from([0x4b, 0x01])), Buffer.from([0x4b, 0x02]));
  assert.deepEqual(prefixEnd(Buffer.from([0x4b, 0xff])), Buffer.from([0x4c]));
});
