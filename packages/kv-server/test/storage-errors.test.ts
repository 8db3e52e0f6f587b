// Goal: a node that cannot open its data dir says why, naming the file and
// what to do. Every failed LevelDB open used to be reported as
// DATA_DIR_LOCKED ("in use by another process"): a flipped byte in the
// MANIFEST, CURRENT naming a missing manifest, a deleted table file, a full
// disk. Method: build a real data dir with NodeDatabase (opened twice, so
// LevelDB has written a table file), damage it the way the faults do, reopen
// it and check the code and the message; the binary is checked for its one
// line. A full disk is real (a tiny tmpfs) where this process may mount one;
// the mapping of LevelDB's errors is also checked with the exact errors
// classic-level gives (captured from real runs) for a full disk and a denied
// permission, which a root test process cannot provoke otherwise.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, TestCluster } from '@cairn/testkit';
import { KvError } from '../src/errors.js';
import { NodeDatabase } from '../src/storage/database.js';
import { describeStorageError } from '../src/storage/storage-errors.js';
import { describeStartupError } from '../src/startup-errors.js';

const identity = { clusterId: 'storage-errors', nodeId: 1 };
const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'main.ts');
const REMEDY = /restore the data dir from a backup, or remove the node/;
const tempDirs: string[] = [];
after(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** A data dir with some records in a LevelDB table file (reopening turns the write-ahead log into one). */
async function builtDataDir(parent?: string): Promise<string> {
  const dataDir = mkdtempSync(join(parent ?? tmpdir(), 'cairn-storage-'));
  tempDirs.push(dataDir);
  for (let round = 0; round < 2; round++) {
    const database = await NodeDatabase.open(dataDir, identity);
    const ops = Array.from({ length: 50 }, (_, i) => NodeDatabase.putRecord(Buffer.from(`k${round}-${i}`), Buffer.alloc(100, i)));
    await database.write(ops, { sync: true });
    await database.close();
  }
  return dataDir;
}

function dbFiles(dataDir: string): string[] {
  return readdirSync(join(dataDir, 'db'));
}

async function openError(dataDir: string): Promise<KvError> {
  const error = await NodeDatabase.open(dataDir, identity).then(
    async (database) => {
      await database.close();
      return undefined;
    },
    (e: unknown) => e,
  );
  assert.ok(error instanceof KvError, `expected a typed error, got ${String(error)}`);
  return error;
}

/** Flips a byte in the middle of the data dir's MANIFEST; returns the file's name. */
function flipManifestByte(dataDir: string): string {
  const manifest = dbFiles(dataDir).find((name) => name.startsWith('MANIFEST-'))!;
  const bytes = readFileSync(join(dataDir, 'db', manifest));
  const at = Math.floor(bytes.length / 2);
  bytes[at] = bytes[at]! ^ 0xff;
  writeFileSync(join(dataDir, 'db', manifest), bytes);
  return manifest;
}

describe('a damaged data dir is reported as damaged, naming the file', () => {
  test('a flipped byte in the MANIFEST', async () => {
    const dataDir = await builtDataDir();
    const manifest = flipManifestByte(dataDir);
    const error = await openError(dataDir);
    assert.equal(error.code, 'CORRUPTION');
    assert.match(error.message, new RegExp(`db/${manifest} is damaged`));
    assert.match(error.message, REMEDY);
  });

  test('CURRENT naming a manifest that does not exist', async () => {
    const dataDir = await builtDataDir();
    writeFileSync(join(dataDir, 'db', 'CURRENT'), 'MANIFEST-999999\n');
    const error = await openError(dataDir);
    assert.equal(error.code, 'CORRUPTION');
    assert.match(error.message, /db\/CURRENT names MANIFEST-999999, which does not exist/);
    assert.match(error.message, REMEDY);
  });

  test('the newest table file deleted', async () => {
    const dataDir = await builtDataDir();
    const tables = dbFiles(dataDir)
      .filter((name) => name.endsWith('.ldb'))
      .sort();
    assert.ok(tables.length > 0, 'the data dir has a table file');
    rmSync(join(dataDir, 'db', tables.at(-1)!));
    const error = await openError(dataDir);
    assert.equal(error.code, 'CORRUPTION');
    assert.match(error.message, new RegExp(`LevelDB table db/${tables.at(-1)!.replace('.', '\\.')} is missing`));
    assert.match(error.message, REMEDY);
  });

  test('CURRENT deleted: refused, where LevelDB would have started an empty database', async () => {
    const dataDir = await builtDataDir();
    rmSync(join(dataDir, 'db', 'CURRENT'));
    const error = await openError(dataDir);
    assert.equal(error.code, 'CORRUPTION');
    assert.match(error.message, /db\/CURRENT is missing although db\/ holds LevelDB data/);
    assert.ok(
      dbFiles(dataDir).some((name) => name.endsWith('.ldb')),
      'the table files are still there',
    );
  });

  test('a data dir that is really in use is DATA_DIR_LOCKED', async () => {
    const dataDir = await builtDataDir();
    const holder = await NodeDatabase.open(dataDir, identity);
    try {
      const error = await openError(dataDir);
      assert.equal(error.code, 'DATA_DIR_LOCKED');
      assert.match(error.message, /in use by another process/);
    } finally {
      await holder.close();
    }
  });

  test('a restart while the disk is still full is DISK_FULL (a real full tmpfs)', async (t) => {
    const mountPoint = mkdtempSync(join(tmpdir(), 'cairn-full-'));
    tempDirs.push(mountPoint);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint], { stdio: 'ignore' });
    } catch {
      t.skip('cannot mount a tmpfs here (needs root); the mapping test below covers LevelDB ENOSPC');
      return;
    }
    try {
      const dataDir = await builtDataDir(mountPoint);
      fillDisk(join(mountPoint, 'filler'));
      const error = await openError(dataDir);
      assert.equal(error.code, 'DISK_FULL');
      assert.match(error.message, new RegExp(`no space left on the disk of data dir ${dataDir} \\(writing db/\\d+\\.(ldb|log)\\)`));
      // Nothing is lost: with space again the data dir opens.
      rmSync(join(mountPoint, 'filler'));
      await (await NodeDatabase.open(dataDir, identity)).close();
    } finally {
      execFileSync('umount', [mountPoint]);
    }
  });
});

function fillDisk(file: string): void {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    assert.equal((error as NodeJS.ErrnoException).code, 'ENOSPC');
  } finally {
    closeSync(fd);
  }
}

/** An error as classic-level 3 gives it for a failed open. */
function levelOpenError(code: string, message: string): Error {
  return Object.assign(new Error('Database failed to open'), {
    code: 'LEVEL_DATABASE_NOT_OPEN',
    cause: Object.assign(new Error(message), { code }),
  });
}

describe('describeStorageError maps LevelDB and file-system errors', () => {
  test('the real errors of a full disk and a denied permission', () => {
    const full = describeStorageError(
      levelOpenError('LEVEL_IO_ERROR', 'IO error: /srv/n1/db/000005.ldb: No space left on device'),
      '/srv/n1',
    );
    assert.equal(full?.code, 'DISK_FULL');
    assert.match(full!.message, /no space left on the disk of data dir \/srv\/n1 \(writing db\/000005\.ldb\)/);
    const denied = describeStorageError(levelOpenError('LEVEL_IO_ERROR', 'IO error: /srv/n1/db/LOCK: Permission denied'), '/srv/n1');
    assert.equal(denied?.code, 'PERMISSION_DENIED');
    assert.match(denied!.message, /\/srv\/n1\/db\/LOCK/);
    const mkdirDenied = Object.assign(new Error("EACCES: permission denied, mkdir '/srv/n1'"), { code: 'EACCES', path: '/srv/n1' });
    assert.equal(describeStorageError(mkdirDenied, '/srv/n1')?.code, 'PERMISSION_DENIED');
  });

  test('without the data dir (errors after open) the file in the message names it', () => {
    const error = Object.assign(new Error('Corruption: block checksum mismatch: /srv/n1/db/000007.ldb'), { code: 'LEVEL_CORRUPTION' });
    const described = describeStartupError(error);
    assert.equal(described.code, 'CORRUPTION');
    assert.match(described.message, /data dir \/srv\/n1 is corrupt: LevelDB file db\/000007\.ldb is damaged \(block checksum mismatch\)/);
  });

  test('prose that mentions a lock is not a lock; an unknown failure stays INTERNAL, on one line', () => {
    const io = levelOpenError('LEVEL_IO_ERROR', 'IO error: /srv/n1/db/000009.log: Input/output error (while blocking)');
    assert.equal(describeStorageError(io, '/srv/n1'), undefined);
    const described = describeStartupError(io);
    assert.equal(described.code, 'INTERNAL');
    assert.equal(describeStartupError(new Error('clock skew\n    at x (y.ts:1:1)')).message, 'clock skew');
    assert.equal(
      describeStorageError(levelOpenError('LEVEL_LOCKED', 'IO error: lock /srv/n1/db/LOCK: already held by process'))?.code,
      'DATA_DIR_LOCKED',
    );
  });
});

describe('cairn-server prints one line for a damaged or busy data dir', () => {
  function runServer(dataDir: string, port: number): { status: number | null; stderr: string } {
    const result = spawnSync(
      process.execPath,
      [
        '--conditions=@cairn/source',
        '--import',
        'tsx',
        MAIN,
        '--id',
        '1',
        '--addr',
        `127.0.0.1:${port}`,
        '--data-dir',
        dataDir,
        '--cluster-id',
        identity.clusterId,
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    return { status: result.status, stderr: result.stderr };
  }

  function assertOneLine(result: { status: number | null; stderr: string }, code: string, pattern: RegExp): void {
    assert.equal(result.status, 1);
    const lines = result.stderr
      .trim()
      .split('\n')
      .filter((line) => line.startsWith('cairn-server: error:'));
    assert.equal(lines.length, 1, `one error line, got: ${result.stderr}`);
    assert.match(lines[0]!, new RegExp(`^cairn-server: error: ${code}: `));
    assert.match(lines[0]!, pattern);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  }

  test('a flipped MANIFEST byte is CORRUPTION, not DATA_DIR_LOCKED', async () => {
    const dataDir = await builtDataDir();
    const manifest = flipManifestByte(dataDir);
    assertOneLine(
      runServer(dataDir, await freePort()),
      'CORRUPTION',
      new RegExp(`db/${manifest} is damaged.*restore the data dir from a backup`),
    );
  });

  test('the data dir of a running node is DATA_DIR_LOCKED', async () => {
    const cluster = await TestCluster.start({ size: 1, clusterId: identity.clusterId });
    try {
      const node = cluster.node(1);
      mkdirSync(node.dataDir, { recursive: true });
      assertOneLine(runServer(node.dataDir, await freePort()), 'DATA_DIR_LOCKED', /in use by another process/);
    } finally {
      await cluster.stop();
    }
  });
});
