/**
 * One `cairn-server` child process of the demo. It runs the build when the
 * demo was started by `npm start`, which builds first and sets
 * CAIRN_FROM_DIST=1, and the TypeScript sources otherwise (bin/launch.js).
 * Each node gets its own process group (detached), so the terminal's Ctrl-C
 * reaches only the demo, which then stops the nodes in order: workload first,
 * faults cleared, then SIGTERM to each node.
 */
import type { ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchNode, type LaunchError } from '@cairn/kv-server/launch';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const START_DEADLINE_MS = 30_000;
const STOP_DEADLINE_MS = 15_000;
/** Node log events worth a line on the demo console. */
const ECHOED_EVENTS = new Set(['leader-changed', 'membership-changed', 'snapshot-taken', 'snapshot-restored', 'removed-from-cluster']);

export class NodeStartError extends Error {
  readonly code = 'NODE_START_FAILED';
  constructor(id: number, reason: string) {
    super(`node ${id} did not start: ${reason}`);
    this.name = 'NodeStartError';
  }
}

export interface NodeSpec {
  readonly id: number;
  readonly grpcAddress: string;
  readonly httpAddress: string;
  readonly dataDir: string;
  readonly logFile: string;
}

/** How one run of a node ended. `expected` is false for a crash (an exit the demo did not ask for). */
export interface NodeExit {
  readonly id: number;
  readonly code: number | null;
  readonly signal: string | null;
  readonly expected: boolean;
}

export interface NodeHooks {
  /** A node log event worth showing (leader change, membership, snapshot) or an error line. */
  onEvent(id: number, event: string, fields: Record<string, unknown>): void;
  onExit(exit: NodeExit): void;
}

export class DemoNode {
  private child: ChildProcess | undefined;
  private stopping = false;
  private serving = false;
  private log: WriteStream | undefined;

  constructor(
    readonly spec: NodeSpec,
    private readonly commonArgs: readonly string[],
    private readonly hooks: NodeHooks,
  ) {}

  get id(): number {
    return this.spec.id;
  }

  /** Started, serving, and not asked to stop. */
  get running(): boolean {
    return this.child !== undefined && this.serving && !this.stopping;
  }

  /** Spawns the node and resolves once it serves gRPC. */
  async start(extraArgs: readonly string[]): Promise<void> {
    const { id, grpcAddress, httpAddress, dataDir, logFile } = this.spec;
    mkdirSync(dataDir, { recursive: true });
    mkdirSync(dirname(logFile), { recursive: true });
    this.log = createWriteStream(logFile, { flags: 'a' });
    this.stopping = false;
    this.serving = false;
    const { child, serving } = launchNode({
      id,
      address: grpcAddress,
      clientAddress: httpAddress,
      dataDir,
      args: [...this.commonArgs, ...extraArgs],
      cwd: REPO_ROOT,
      detached: true,
    });
    this.child = child;
    this.followLog(child);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new NodeStartError(id, `no "serving" line within ${START_DEADLINE_MS / 1000} s; see ${logFile}`));
      }, START_DEADLINE_MS);
      serving
        .then(resolve, (error: LaunchError) =>
          reject(new NodeStartError(id, `exited with ${error.signal ?? error.exitCode} during start; see ${logFile}`)),
        )
        .finally(() => clearTimeout(timer));
    });
    await this.waitUntilHealthy(child).catch((error: unknown) => {
      child.kill('SIGKILL');
      throw error;
    });
    this.serving = true;
    child.once('exit', (code, signal) => {
      this.child = undefined;
      this.serving = false;
      this.log?.end();
      this.hooks.onExit({ id, code, signal, expected: this.stopping });
    });
  }

  /**
   * The node prints "serving" just before it installs its SIGTERM handler; an
   * answer on /healthz proves the handler is in place, so an early stop is
   * still graceful.
   */
  private async waitUntilHealthy(child: ChildProcess): Promise<void> {
    const deadline = performance.now() + START_DEADLINE_MS;
    while (child.exitCode === null && child.signalCode === null) {
      const healthy = await fetch(`http://${this.spec.httpAddress}/healthz`, { signal: AbortSignal.timeout(1_000) }).then(
        async (response) => {
          await response.text();
          return response.ok;
        },
        () => false,
      );
      if (healthy) return;
      if (performance.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new NodeStartError(this.id, `no answer on http://${this.spec.httpAddress}/healthz; see ${this.spec.logFile}`);
  }

  /** SIGTERM and wait for the exit (SIGKILL after a deadline); resolves with the exit code. */
  stop(): Promise<number | null> {
    const child = this.child;
    if (child === undefined) return Promise.resolve(null);
    this.stopping = true;
    return new Promise((resolve) => {
      const killer = setTimeout(() => child.kill('SIGKILL'), STOP_DEADLINE_MS);
      child.once('exit', (code) => {
        clearTimeout(killer);
        resolve(code);
      });
      child.kill('SIGTERM');
    });
  }

  /** Last resort when the demo itself dies: no waiting. */
  killNow(): void {
    this.stopping = true;
    this.child?.kill('SIGKILL');
  }

  private followLog(child: ChildProcess): void {
    let pending = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      this.log?.write(chunk);
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) this.echo(line);
    });
  }

  private echo(line: string): void {
    if (line.trim() === '') return;
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(line) as Record<string, unknown>;
    } catch {
      // Not a structured log line (e.g. a startup failure message): show it as is.
      this.hooks.onEvent(this.id, 'output', { line });
      return;
    }
    const { time: _time, level, node: _node, event, ...fields } = parsed;
    if (typeof event === 'string' && (ECHOED_EVENTS.has(event) || level === 'error')) this.hooks.onEvent(this.id, event, fields);
  }
}

export function nodeSpec(root: string, id: number, grpcPort: number, httpPort: number): NodeSpec {
  return {
    id,
    grpcAddress: `127.0.0.1:${grpcPort}`,
    httpAddress: `127.0.0.1:${httpPort}`,
    dataDir: join(root, `node-${id}`),
    logFile: join(root, 'logs', `node-${id}.log`),
  };
}
