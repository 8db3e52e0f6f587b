// Goal: `cairn-server` (bin/cairn-server.js, which runs the server in a child
// process with the server's Node flags) stops cleanly on Ctrl-C. A terminal
// sends SIGINT to the whole process group, so the child gets it twice: from
// the terminal and from the bin forwarding it; that must not count as the
// "second Ctrl-C" that skips the graceful stop.
// Method: start the bin in its own process group on port 0, signal the group
// as a terminal would, and read the exit code and the node's log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@cairn/testkit';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'cairn-server.js');

test('Ctrl-C to the process group stops the server gracefully, once', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cairn-bin-'));
  try {
    const child = spawn(process.execPath, [BIN, '--id', '1', '--addr', '127.0.0.1:0', '--data-dir', dataDir, '--log-level', 'info'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await waitFor(() => stdout.includes('serving gRPC'), { deadlineMs: 30_000, what: 'the server to serve' });
    process.kill(-child.pid!, 'SIGINT');
    assert.equal(await exited, 0, stderr.slice(-2000));
    assert.doesNotMatch(stderr, /second SIGINT/);
    assert.match(stderr, /"event":"node-stopped"/);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
