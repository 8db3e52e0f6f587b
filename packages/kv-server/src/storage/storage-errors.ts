/**
 * What a LevelDB (classic-level) or file-system failure at startup means for
 * the operator: a typed error naming the file and what to do, decided by
 * classic-level's and the OS's error codes (a damaged or full disk is not a
 * lock held by another process, though every one of them fails the open).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { CorruptionError, DataDirLockedError, DiskFullError, type KvError, PermissionDeniedError } from '../errors.js';

/**
 * The typed error `error` stands for, or undefined when it is none of the
 * known kinds. Decided by classic-level's codes (LEVEL_LOCKED,
 * LEVEL_CORRUPTION, LEVEL_IO_ERROR, on the error or on its `cause`) and by
 * Node's errno codes. LevelDB reports no errno, only strerror's text at the
 * end of its message, so for LEVEL_IO_ERROR that exact text is matched
 * ("No space left on device"), never a loose word such as "lock".
 *
 * `dataDir` is the node's --data-dir when the caller knows it; otherwise it
 * is taken from the file LevelDB names (its files live in dataDir/db/).
 */
export function describeStorageError(error: unknown, dataDir?: string): KvError | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, message, cause, path: errorPath } = error as NodeJS.ErrnoException;
  // classic-level wraps every failed open as LEVEL_DATABASE_NOT_OPEN, the real failure as its cause.
  if (code === 'LEVEL_DATABASE_NOT_OPEN') return cause === undefined ? undefined : describeStorageError(cause, dataDir);
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return new PermissionDeniedError(errorPath ?? dataDir ?? 'the data dir');
    case 'ENOSPC':
      return new DiskFullError(dataDir ?? path.dirname(errorPath ?? '.'), errorPath ?? 'the data dir');
    case 'LEVEL_LOCKED':
      return new DataDirLockedError(dataDir ?? dataDirOf(fileIn(String(message))) ?? 'the data dir');
    case 'LEVEL_IO_ERROR':
    case 'LEVEL_CORRUPTION': {
      const text = String(message);
      const file = fileIn(text);
      const dir = dataDir ?? dataDirOf(file) ?? 'the data dir';
      return code === 'LEVEL_IO_ERROR' ? describeIoError(text, file, dir) : new CorruptionError(dir, describeCorruption(text, file, dir));
    }
    default:
      return undefined;
  }
}

/**
 * LevelDB opened without CURRENT creates a new, empty database and then
 * deletes every table and log file it does not know: a lost CURRENT would
 * silently wipe the node. Throws instead when db/ holds data files.
 */
export function refuseLostCurrent(dataDir: string): void {
  let names: string[];
  try {
    names = readdirSync(path.join(dataDir, 'db'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // A new data dir.
    throw error;
  }
  if (names.includes('CURRENT')) return;
  // A crash while LevelDB creates a database leaves at most a MANIFEST: its log comes after CURRENT.
  const dataFile = names.find((name) => /\.(ldb|sst|log)$/.test(name));
  if (dataFile !== undefined) {
    throw new CorruptionError(dataDir, `db/CURRENT is missing although db/ holds LevelDB data (db/${dataFile})`);
  }
}

function describeIoError(message: string, file: string | undefined, dataDir: string): KvError | undefined {
  const name = file === undefined ? 'a LevelDB file' : relativeName(file, dataDir);
  if (message.endsWith('No space left on device')) return new DiskFullError(dataDir, name);
  if (message.endsWith('Permission denied') || message.endsWith('Operation not permitted'))
    return new PermissionDeniedError(file ?? dataDir);
  if (message.endsWith('No such file or directory') && file !== undefined) {
    if (path.basename(file).startsWith('MANIFEST-')) {
      return new CorruptionError(dataDir, `db/CURRENT names ${path.basename(file)}, which does not exist`);
    }
    return new CorruptionError(dataDir, `LevelDB file ${name} is missing`);
  }
  return undefined;
}

function describeCorruption(message: string, file: string | undefined, dataDir: string): string {
  const detail = message.replace(/^Corruption: /, '');
  const missing = /^(\d+) missing files/.exec(detail);
  if (missing !== null && file !== undefined) {
    return `LevelDB table ${relativeName(file, dataDir)} is missing (${missing[1]} file${missing[1] === '1' ? '' : 's'} missing)`;
  }
  if (file !== undefined) return `LevelDB file ${relativeName(file, dataDir)} is damaged (${detail.replace(`: ${file}`, '')})`;
  if (detail.includes('CURRENT')) return `db/CURRENT is damaged (${detail})`;
  // No file named: LevelDB was reading the MANIFEST, the list of tables that CURRENT names.
  return `LevelDB's ${currentManifest(dataDir) ?? 'MANIFEST'} is damaged (${detail})`;
}

/** The absolute path in LevelDB's message (`IO error: /d/db/000005.ldb: No space left on device`), if any. */
function fileIn(message: string): string | undefined {
  return /(\/[^:\s]+)/.exec(message)?.[1];
}

function dataDirOf(file: string | undefined): string | undefined {
  return file === undefined ? undefined : path.dirname(path.dirname(file));
}

function relativeName(file: string, dataDir: string): string {
  const relative = path.relative(dataDir, file);
  return relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
}

/** `db/MANIFEST-…` as CURRENT names it, when readable. */
function currentManifest(dataDir: string): string | undefined {
  try {
    const name = readFileSync(path.join(dataDir, 'db', 'CURRENT'), 'utf8').trim();
    return name.length > 0 ? `db/${name}` : undefined;
  } catch {
    return undefined;
  }
}
