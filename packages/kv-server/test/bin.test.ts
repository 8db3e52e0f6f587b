// Goal: `cairn-server` (bin/cairn-server.js, which runs the server in a child
// process with the server's Node flags) stops cleanly on Ctrl-C. A terminal
// sends SIGINT to the whole process group, so the child gets it twice: from
// the terminal and from the bin forwarding it; that must not count as the
// "second Ctrl-C" that skips the graceful stop.
// And when the bin itself is killed (SIGKILL), the server must not live on as
// an orphan holding the data dir's lock and its ports.
// Method: start the bin in its own process group on port 0, signal the group
// as a terminal would (or SIGKILL the bin alone), and read the exit code, the
// node's log, and whether a new node can take the data dir.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@cairn/testkit';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'cairn-server.js');

/** Whatever is left of a launch's process group (the bin and the server it runs). */
function killGroup(launched: Launched | undefined): void {
  try {
    if (launched?.child.pid !== undefined) process.kill(-launched.child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

interface Launched {
  child: ChildProcessByStdio<null, Readable, Readable>;
  output: { stdout: string; stderr: string };
  /** The bin's exit, once it has exited. */
  exit: { code: number | null } | undefined;
  /** Pipes closed: every process writing to them (the bin and the server) is gone. */
  closedPipes: number;
}

async function launch(dataDir: string): Promise<Launched> {
  const child = spawn(process.execPath, [BIN, '--id', '1', '--addr', '127.0.0.1:0', '--data-dir', dataDir, '--log-level', 'info'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const launched: Launched = { child, output: { stdout: '', stderr: '' }, exit: undefined, closedPipes: 0 };
  child.stdout.on('data', (chunk: Buffer) => (launched.output.stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (launched.output.stderr += chunk.toString()));
  child.stdout.once('close', () => (launched.closedPipes += 1));
  child.stderr.once('close', () => (launched.closedPipes += 1));
  child.once('exit', (code) => (launched.exit = { code }));
  await waitFor(() => launched.output.stdout.includes('serving gRPC'), { what: 'the server to serve' });
  return launched;
}

test('Ctrl-C to the process group stops the server gracefully, once', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cairn-bin-'));
  let launched: Launched | undefined;
  try {
    launched = await launch(dataDir);
    const { child, output } = launched;
    process.kill(-child.pid!, 'SIGINT');
    const { code } = await waitFor(() => launched!.exit, { what: 'the bin to exit' });
    assert.equal(code, 0, output.stderr.slice(-2000));
    assert.doesNotMatch(output.stderr, /second SIGINT/);
    assert.match(output.stderr, /"event":"node-stopped"/);
  } finally {
    killGroup(launched);
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a server whose launcher is killed stops too, and its data dir can be opened again', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cairn-bin-'));
  let first: Launched | undefined;
  let second: Launched | undefined;
  try {
    first = await launch(dataDir);
    first.child.kill('SIGKILL');
    // The server shares the bin's pipes: they close only when it has exited as well.
    await waitFor(() => first!.closedPipes === 2, { what: 'the orphaned server to exit' });
    assert.match(first.output.stderr, /"event":"node-stopped"/, first.output.stderr.slice(-2000));
    second = await launch(dataDir);
    process.kill(-second.child.pid!, 'SIGTERM');
    const { code } = await waitFor(() => second!.exit, { what: 'the second bin to exit' });
    assert.equal(code, 0, second.output.stderr.slice(-2000));
  } finally {
    killGroup(first);
    killGroup(second);
    rmSync(dataDir, { recursive: true, force: true });
  }
});
