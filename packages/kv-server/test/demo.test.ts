// Goal: the live demo (tools/demo, what `npm start` runs) survives its own
// fault injection: after a bounded run with faults, leader preemption and the
// membership cycle on, the recorded client history is linearizable, every
// node process exited cleanly (exit 0, none crashed), and the history holds a
// meaningful number of operations.
// Method: run tools/demo/main.ts as a child process (5 nodes on OS-assigned
// ports, temp data dir, --duration 10) and read the JSON summary it writes;
// the child is killed if it outlives a generous bound.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const DEMO_MAIN = join(REPO_ROOT, 'tools', 'demo', 'main.ts');
const RUN_SECONDS = 10;
/** A safety bound on the whole child run (start, run, shutdown, check), not a timing assertion. */
const CHILD_LIMIT_MS = 120_000;

interface Summary {
  check: { verdict: string; reason?: string; operations: number; records: number };
  workload: { ok: number; fail: number; unknown: number };
  disruptions: { transfers: { ok: number; failed: number }; faults: { ok: number; failed: number } };
  nodeExits: Array<{ id: number; code: number | null; signal: string | null; expected: boolean }>;
  crashed: boolean;
}

const scratch = mkdtempSync(join(tmpdir(), 'cairn-demo-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function runDemo(args: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--conditions=@cairn/source', '--import', 'tsx', DEMO_MAIN, ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const limit = setTimeout(() => child.kill('SIGKILL'), CHILD_LIMIT_MS);
  return new Promise((resolve) => {
    child.once('exit', (code) => {
      clearTimeout(limit);
      resolve({ code, output });
    });
  });
}

test('a bounded demo run with faults on stays linearizable and every node exits cleanly', async () => {
  const summaryFile = join(scratch, 'summary.json');
  const { code, output } = await runDemo([
    '--base-port',
    '0',
    '--duration',
    String(RUN_SECONDS),
    '--data-dir',
    join(scratch, 'demo'),
    '--summary-file',
    summaryFile,
  ]);
  const tail = output.slice(-3000);
  assert.equal(code, 0, `demo exit code; output tail:\n${tail}`);
  const summary = JSON.parse(readFileSync(summaryFile, 'utf8')) as Summary;
  assert.equal(summary.check.verdict, 'linearizable', `${summary.check.reason ?? ''}\n${tail}`);
  assert.match(output, /^verdict: LINEARIZABLE$/m);
  assert.ok(summary.check.operations >= 50, `only ${summary.check.operations} operations checked`);
  assert.ok(summary.workload.ok >= 50, `only ${summary.workload.ok} successful client operations`);
  assert.ok(summary.disruptions.faults.ok >= 1, 'at least one fault was injected');
  assert.ok(summary.disruptions.transfers.ok + summary.disruptions.transfers.failed >= 1, 'a leader transfer was attempted');
  assert.equal(summary.crashed, false);
  const voters = summary.nodeExits
    .filter((exit) => exit.id <= 5)
    .map((exit) => exit.id)
    .sort();
  assert.deepEqual(voters, [1, 2, 3, 4, 5], 'every voter was stopped once');
  for (const exit of summary.nodeExits)
    assert.deepEqual({ id: exit.id, code: exit.code, expected: exit.expected }, { id: exit.id, code: 0, expected: true });
});

test('a busy base port is refused with a clear one-line error', async () => {
  const { createServer } = await import('node:net');
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  try {
    const busy = (blocker.address() as { port: number }).port;
    const { code, output } = await runDemo(['--base-port', String(busy), '--data-dir', join(scratch, 'busy'), '--duration', '1']);
    assert.equal(code, 2);
    assert.match(output, new RegExp(`^demo: error: PORT_BUSY: port ${busy} on 127\\.0\\.0\\.1 is in use`, 'm'));
    assert.doesNotMatch(output, /\n\s+at /, 'no stack trace');
  } finally {
    await new Promise((resolve) => blocker.close(resolve));
  }
});
