/**
 * A byte-bounded cache of the state machine's latest stored values (and of
 * known-absent keys), so applying a write to a recently used key needs no
 * LevelDB read, and a linearizable get of one needs no read either.
 *
 * It only ever mirrors what LevelDB holds: the state machine updates it after
 * an apply batch is written and clears it when the state is replaced. It is
 * bounded in bytes, so memory stays flat however much data there is; eviction
 * is by insertion order (a write re-inserts), which is cheap and good enough
 * for hot keys.
 */
import type { StoredValue } from './records.js';

/** Per-entry bookkeeping (Map slot, key string, StoredValue, Buffer object): measured ~300 bytes of heap. */
const ENTRY_OVERHEAD_BYTES = 320;

export class ValueCache {
  private readonly entries = new Map<string, StoredValue | null>();
  private bytes = 0;

  constructor(private readonly bytesMax: number) {}

  /** The cached value: a StoredValue, null for a key known absent, undefined when not cached. */
  get(key: string): StoredValue | null | undefined {
    return this.entries.get(key);
  }

  set(key: string, value: StoredValue | null): void {
    const previous = this.entries.get(key);
    if (previous !== undefined) {
      this.bytes -= sizeOf(key, previous);
      this.entries.delete(key);
    }
    const size = sizeOf(key, value);
    if (size > this.bytesMax) return;
    this.entries.set(key, value === null ? null : { ...value, value: unpooledCopy(value.value) });
    this.bytes += size;
    for (const [oldest, oldestValue] of this.entries) {
      if (this.bytes <= this.bytesMax) break;
      this.entries.delete(oldest);
      this.bytes -= sizeOf(oldest, oldestValue);
    }
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }

  get size(): number {
    return this.entries.size;
  }

  get byteSize(): number {
    return this.bytes;
  }
}

/**
 * Small Buffers are slices of Node's shared 8 KiB pool: caching one would pin
 * its whole slab (measured: a 16 MiB cache held 40 MiB of array buffers).
 */
function unpooledCopy(bytes: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(copy);
  return copy;
}

function sizeOf(key: string, value: StoredValue | null): number {
  return key.length + (value?.value.length ?? 0) + ENTRY_OVERHEAD_BYTES;
}
