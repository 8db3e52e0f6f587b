/**
 * Big-endian u64 fields of stored records and keys, written and read as two
 * u32 halves: Buffer's BigInt methods allocate a BigInt per field, and a
 * write stores a dozen such fields per entry on every node. Values are
 * JavaScript numbers, so at most 2^53 - 1 (indexes, counters, milliseconds).
 */
const TWO_32 = 0x1_0000_0000;

export function writeU64BE(buffer: Buffer, value: number, offset: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`not a u64 this store can hold: ${value}`);
  buffer.writeUInt32BE(Math.floor(value / TWO_32), offset);
  buffer.writeUInt32BE(value >>> 0, offset + 4);
}

/** The u64 at `offset`; past 2^53 - 1 it is not exact, as Number(readBigUInt64BE()) was not. */
export function readU64BE(buffer: Buffer, offset: number): number {
  return buffer.readUInt32BE(offset) * TWO_32 + buffer.readUInt32BE(offset + 4);
}
