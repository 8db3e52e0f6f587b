import { freePort } from '@cairn/testkit';
/**
 * Child processes of a benchmark run: free ports, temp dirs, spawning with
 * captured output, and a teardown list that runs on success, error and Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** How long a SIGTERMed child may take to exit (flush a CPU profile, close LevelDB) before SIGKILL. */
export const STOP_GRACE_MS = 10_000;
/** Captured output kept per child, for error messages. */
const OUTPUT_CHARS_MAX = 64 * 1024;

/** `count` free ports; testkit's freePort never hands out the same one twice. */
export async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) ports.push(await freePort());
  return ports;
}

export function makeTempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A spawned child whose stdout/stderr tail is kept for diagnostics. */
export class ManagedProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    child.stdout?.on('data', (chunk: Buffer) => (this.stdout = keepTail(this.stdout + chunk.toString())));
    child.stderr?.on('data', (chunk: Buffer) => (this.stderr = keepTail(this.stderr + chunk.toString())));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.name} has no pid (spawn failed)`);
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Synchronous last resort (second Ctrl-C, process exit). */
  killNow(): void {
    if (this.running) this.child.kill('SIGKILL');
  }

  describeOutput(): string {
    return (this.stderr.trim() || this.stdout.trim()).split('\n').slice(-5).join('\n');
  }
}

function keepTail(text: string): string {
  return text.length > OUTPUT_CHARS_MAX ? text.slice(-OUTPUT_CHARS_MAX) : text;
}

export function spawnManaged(name: string, command: string, args: readonly string[]): ManagedProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.once('error', () => undefined); // Reported through `exited` / `running`; avoids an unhandled 'error' event.
  return new ManagedProcess(name, child);
}

/**
 * Everything to undo at the end of a run, undone in reverse order. `runAll` is
 * idempotent; `killAllNow` is the synchronous path for a forced exit.
 */
export class Teardown {
  private readonly steps: Array<() => Promise<void> | void> = [];
  private readonly processes = new Set<ManagedProcess>();
  private readonly dirs = new Set<string>();

  track(process: ManagedProcess): ManagedProcess {
    this.processes.add(process);
    return process;
  }

  removeDirLater(dir: string): string {
    this.dirs.add(dir);
    return dir;
  }

  add(step: () => Promise<void> | void): void {
    this.steps.push(step);
  }

  async runAll(): Promise<void> {
    for (const step of this.steps.splice(0).reverse()) {
      try {
        await step();
      } catch {
        // Teardown continues past a failed step: leftover processes and dirs matter more.
      }
    }
    await Promise.all([...this.processes].map((p) => p.stop()));
    this.processes.clear();
    this.removeDirs();
  }

  killAllNow(): void {
    for (const process of this.processes) process.killNow();
    this.removeDirs();
  }

  private removeDirs(): void {
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
    this.dirs.clear();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` until it returns a value, the deadline passes (throws), or `failFast` returns a reason. */
export async function pollUntil<T>(
  probe: () => Promise<T | undefined>,
  options: { deadlineMs: number; what: string; failFast?: () => string | undefined },
): Promise<T> {
  const deadline = Date.now() + options.deadlineMs;
  for (;;) {
    const failure = options.failFast?.();
    if (failure !== undefined) throw new Error(`${options.what}: ${failure}`);
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${options.deadlineMs} ms waiting for ${options.what}`);
    await sleep(100);
  }
}
