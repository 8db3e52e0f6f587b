/**
 * Snapshot data files (hashicorp SnapshotStore, reduced to what the node
 * needs): data-dir/snapshots/snapshot-<index>-<term>.snap. A file is written to
 * a temp name, fsynced, renamed into place and the directory fsynced, so a
 * crash leaves either no file or a complete one. The LevelDB snapshot
 * metadata record is written only after the file is in place; files that no
 * metadata record points at are leftovers and are removed.
 *
 * File layout: magic "CSNP" | u32be format (1) | u32be CRC32 of data |
 * u64be data length | data.
 */
import { closeSync, fsyncSync, openSync, readFileSync } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { CorruptionError } from '../errors.js';
import { readU64BE, writeU64BE } from './u64.js';

const MAGIC = Buffer.from('CSNP', 'latin1');
const FILE_FORMAT = 1;
const HEADER_BYTES = 4 + 4 + 4 + 8;

export function snapshotDir(dataDir: string): string {
  return path.join(dataDir, 'snapshots');
}

export function snapshotFileName(index: number, term: number): string {
  return `snapshot-${index}-${term}.snap`;
}

/** Writes `data` durably as the snapshot file for (index, term). */
export async function writeSnapshotFile(dataDir: string, index: number, term: number, data: Uint8Array): Promise<number> {
  const writer = await SnapshotFileWriter.create(dataDir, index, term);
  await writer.write(data);
  return writer.commit();
}

/**
 * Streams a snapshot file for (index, term): data goes to a temp file as it
 * comes (a snapshot is never whole in memory), then commit() fills in the
 * header (length, CRC32), fsyncs and renames it into place.
 */
export class SnapshotFileWriter {
  private checksum = 0;
  private length = 0;

  private constructor(
    private readonly handle: FileHandle,
    private readonly tempPath: string,
    private readonly finalPath: string,
  ) {}

  static async create(dataDir: string, index: number, term: number): Promise<SnapshotFileWriter> {
    const directory = snapshotDir(dataDir);
    await mkdir(directory, { recursive: true });
    const finalPath = path.join(directory, snapshotFileName(index, term));
    const tempPath = `${finalPath}.tmp`;
    const handle = await open(tempPath, 'w');
    const writer = new SnapshotFileWriter(handle, tempPath, finalPath);
    try {
      await handle.write(Buffer.alloc(HEADER_BYTES)); // filled in by commit()
    } catch (error) {
      await writer.abort();
      throw error;
    }
    return writer;
  }

  async write(chunk: Uint8Array): Promise<void> {
    try {
      await this.handle.write(chunk);
    } catch (error) {
      await this.abort();
      throw error;
    }
    this.checksum = crc32(chunk, this.checksum);
    this.length += chunk.length;
  }

  /** Makes the file durable under its final name; returns the data length. */
  async commit(): Promise<number> {
    const header = Buffer.alloc(HEADER_BYTES);
    MAGIC.copy(header, 0);
    header.writeUInt32BE(FILE_FORMAT, 4);
    header.writeUInt32BE(this.checksum, 8);
    writeU64BE(header, this.length, 12);
    try {
      await this.handle.write(header, 0, HEADER_BYTES, 0);
      await this.handle.sync();
    } catch (error) {
      await this.abort();
      throw error;
    }
    await this.handle.close();
    await rename(this.tempPath, this.finalPath);
    fsyncDirectory(path.dirname(this.finalPath));
    return this.length;
  }

  /** Closes and deletes the temp file (a failed or abandoned snapshot). */
  async abort(): Promise<void> {
    await this.handle.close().catch(() => undefined);
    await rm(this.tempPath, { force: true });
  }
}

/** Reads and verifies the snapshot file for (index, term). Synchronous: raft-core reads are. */
export function readSnapshotFile(dataDir: string, index: number, term: number): Buffer {
  const filePath = path.join(snapshotDir(dataDir), snapshotFileName(index, term));
  let bytes: Buffer;
  try {
    bytes = readFileSync(filePath);
  } catch (error) {
    throw new CorruptionError(dataDir, `snapshot file ${filePath} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const what = `snapshot file ${filePath}`;
  if (bytes.length < HEADER_BYTES || !bytes.subarray(0, 4).equals(MAGIC)) throw new CorruptionError(dataDir, `${what} has no valid header`);
  const format = bytes.readUInt32BE(4);
  if (format !== FILE_FORMAT) throw new CorruptionError(dataDir, `${what} has unknown format ${format}`);
  const length = readU64BE(bytes, 12);
  const data = bytes.subarray(HEADER_BYTES);
  if (data.length !== length) throw new CorruptionError(dataDir, `${what} holds ${data.length} bytes, expected ${length}`);
  if (crc32(data) !== bytes.readUInt32BE(8)) throw new CorruptionError(dataDir, `${what} failed its checksum`);
  return data;
}

/** Removes every snapshot file (and temp file) except `keep`. */
export async function removeSnapshotFilesExcept(dataDir: string, keep: string | undefined): Promise<void> {
  const directory = snapshotDir(dataDir);
  let names: string[];
  try {
    names = await readdir(directory);
  } catch {
    return;
  }
  for (const name of names) {
    if (name !== keep) await rm(path.join(directory, name), { force: true });
  }
}

function fsyncDirectory(directory: string): void {
  // Makes the rename durable. Some platforms refuse to fsync a directory; the
  // rename is then as durable as the platform allows.
  try {
    const descriptor = openSync(directory, 'r');
    try {
      fsyncSync(descriptor);
    } finally {
      closeSync(descriptor);
    }
  } catch {
    return;
  }
}
