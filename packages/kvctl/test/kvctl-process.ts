// Runs the real `kvctl` executable for end-to-end tests: to completion, or
// live (watch, lock, elect) with its output readable while it runs.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const KVCTL_BIN = fileURLToPath(new URL('../bin/kvctl.js', import.meta.url));
export const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
/** Generous: the tests share 2 cores with other work, and every kvctl run compiles through tsx. */
export const RUN_DEADLINE_MS = 60_000;

export interface KvctlRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the kvctl executable to completion; CAIRN_ENDPOINTS is cleared so only flags count. */
export function kvctl(
  args: readonly string[],
  options: { stdin?: string; cwd?: string; command?: readonly string[] } = {},
): Promise<KvctlRun> {
  const [command, ...prefix] = options.command ?? [process.execPath, KVCTL_BIN];
  const child = spawn(command!, [...prefix, ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    env: { ...process.env, CAIRN_ENDPOINTS: '' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.end(options.stdin ?? '');
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** A kvctl that keeps running; `stdout`/`stderr` grow as it prints, `exited` resolves when it ends. */
export interface LiveKvctl {
  readonly child: ChildProcessWithoutNullStreams;
  readonly output: { stdout: string; stderr: string };
  readonly exited: Promise<KvctlRun>;
}

export function spawnKvctl(args: readonly string[]): LiveKvctl {
  const child = spawn(process.execPath, [KVCTL_BIN, ...args], { cwd: REPO_ROOT, env: { ...process.env, CAIRN_ENDPOINTS: '' } });
  const output = { stdout: '', stderr: '' };
  child.stdout.on('data', (chunk: Buffer) => (output.stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output.stderr += chunk.toString()));
  const exited = new Promise<KvctlRun>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, ...output }));
  });
  return { child, output, exited };
}
