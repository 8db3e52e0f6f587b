/**
 * Real-process clusters for tests: each node is a `cairn-server` child process
 * on 127.0.0.1 with ports checked free (see freePort) and a temporary data dir, removed on stop.
 * (NATS's `NatsServer.start()` pattern.) Clients are plain generated gRPC
 * clients, since the server package may not import the clerk.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
// Only the launcher, a plain file that loads none of the server: kv-server's own tests use the testkit.
import { launchNode, type LaunchError } from '@cairn/kv-server/launch';
import { ClusterServiceClient, ERROR_TRAILER, ErrorDetail, KVServiceClient, type StatusResponse } from '@cairn/proto';
import { waitFor } from './wait-for.js';

/**
 * A port that is free now, for a server a test starts next. Drawn from below
 * the kernel's ephemeral range: a port found by binding port 0 is an
 * ephemeral one: the next bind to port 0 may get it again (two nodes of one
 * test cluster were once given the same port, ADDRESS_IN_USE in CI), and any
 * outgoing connection on the machine may take it before the server binds it.
 * Ports below that range are only ever taken by listeners, and this process
 * never hands out the same one twice. Falls back to port 0 if no draw is free.
 */
export async function freePort(): Promise<number> {
  const from = 20_000;
  const to = Math.max(from + 1_000, ephemeralLow()) - 1;
  for (let attempt = 0; attempt < 100; attempt++) {
    // The last draws ask the OS instead (port 0), in case the low range is full.
    const port = attempt < 50 ? from + Math.floor(Math.random() * (to - from + 1)) : await listenAndRelease(0);
    if (handedOut.has(port) || (attempt < 50 && !(await canListen(port)))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error('no free port on 127.0.0.1 after 100 attempts');
}

/** Ports freePort() returned in this process: a test may not have bound them yet. */
const handedOut = new Set<number>();

/** The lowest port the kernel hands out for outgoing connections. */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 0) return low;
  } catch {
    // Not Linux, or no procfs: assume Linux's default.
  }
  return 32_768;
}

async function canListen(port: number): Promise<boolean> {
  try {
    await listenAndRelease(port);
    return true;
  } catch {
    return false;
  }
}

/** Binds 127.0.0.1:port (0 = any), reads the port, releases it. */
function listenAndRelease(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const bound = (server.address() as { port: number }).port;
      server.close(() => resolve(bound));
    });
  });
}

export interface NodeProcess {
  id: number;
  grpcAddress: string;
  httpAddress: string;
  dataDir: string;
  process: ChildProcess | undefined;
  stderr: string;
  stdout: string;
  kv: KVServiceClient;
  cluster: ClusterServiceClient;
}

/** Whole-cluster start attempts when a chosen port was taken meanwhile. */
const START_ATTEMPTS = 3;

export interface ClusterOptions {
  size: number;
  chaos?: boolean;
  extraArgs?: string[];
  clusterId?: string;
  /**
   * The address node `from` dials to reach `to` (its `--peer` flag), e.g. a
   * TcpProxy in front of `to`. @default `to.grpcAddress`
   */
  peerAddress?: (from: number, to: NodeProcess) => string;
}

export class TestCluster {
  readonly nodes: NodeProcess[] = [];
  private readonly root = mkdtempSync(join(tmpdir(), 'cairn-cluster-'));

  /**
   * Starts `size` nodes. A failed start stops whatever did start (a node left
   * running would keep the test process alive); a port taken between choosing
   * it and binding it is retried with fresh ports.
   */
  static async start(options: ClusterOptions): Promise<TestCluster> {
    for (let attempt = 1; ; attempt++) {
      const cluster = new TestCluster(options);
      try {
        for (let id = 1; id <= options.size; id++) await cluster.addNodeSlot(id);
        const launches = cluster.nodes.map((n) => cluster.launch(n, cluster.peerArgs(n.id)));
        // Every launch settles before a failure is acted on, so stop() sees every child.
        const failed = (await Promise.allSettled(launches)).find((r) => r.status === 'rejected');
        if (failed !== undefined) throw failed.reason;
        return cluster;
      } catch (error) {
        await cluster.stop();
        if (attempt >= START_ATTEMPTS || !String(error).includes('ADDRESS_IN_USE')) throw error;
      }
    }
  }

  private constructor(private readonly options: ClusterOptions) {}

  async addNodeSlot(id: number): Promise<NodeProcess> {
    const grpcAddress = `127.0.0.1:${await freePort()}`;
    const httpAddress = `127.0.0.1:${await freePort()}`;
    const node: NodeProcess = {
      id,
      grpcAddress,
      httpAddress,
      dataDir: join(this.root, `node-${id}`),
      process: undefined,
      stderr: '',
      stdout: '',
      kv: new KVServiceClient(grpcAddress, grpc.credentials.createInsecure()),
      cluster: new ClusterServiceClient(grpcAddress, grpc.credentials.createInsecure()),
    };
    this.nodes.push(node);
    return node;
  }

  /** `--peer` flags for every node; as node `from` sees them if given (see ClusterOptions.peerAddress). */
  peerArgs(from?: number): string[] {
    const mapped = (n: NodeProcess): string =>
      from === undefined || from === n.id || this.options.peerAddress === undefined ? n.grpcAddress : this.options.peerAddress(from, n);
    return this.nodes.flatMap((n) => ['--peer', `${n.id}=${mapped(n)}`]);
  }

  node(id: number): NodeProcess {
    const node = this.nodes.find((n) => n.id === id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  /** Starts (or restarts) a node's process and waits until it serves. */
  async launch(node: NodeProcess, extra: string[] = []): Promise<void> {
    const launched = launchNode({
      id: node.id,
      address: node.grpcAddress,
      clientAddress: node.httpAddress,
      dataDir: node.dataDir,
      args: [
        '--cluster-id',
        this.options.clusterId ?? 'test',
        '--tick-ms',
        '50',
        '--log-level',
        'info',
        ...(this.options.chaos ? ['--chaos'] : []),
        ...(this.options.extraArgs ?? []),
        ...extra,
      ],
    });
    const child = launched.child;
    node.process = child;
    node.stdout = '';
    node.stderr = '';
    child.stdout.on('data', (c: Buffer) => (node.stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (node.stderr += c.toString()));
    let outcome: 'serving' | LaunchError | undefined;
    launched.serving.then(
      () => (outcome = 'serving'),
      (error: LaunchError) => (outcome = error),
    );
    const result = await waitFor(() => outcome, { deadlineMs: 20_000, what: `node ${node.id} to serve` });
    if (result !== 'serving') throw new Error(`node ${node.id} exited with ${result.exitCode} during start: ${node.stderr.slice(-500)}`);
  }

  /** kill -9: no shutdown, no flush. */
  async kill(node: NodeProcess): Promise<void> {
    await this.signal(node, 'SIGKILL');
  }

  /** SIGTERM and wait for a graceful exit; returns the exit code. */
  async terminate(node: NodeProcess): Promise<number | null> {
    return this.signal(node, 'SIGTERM');
  }

  private signal(node: NodeProcess, signal: NodeJS.Signals): Promise<number | null> {
    const child = node.process;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child?.exitCode ?? null);
    node.process = undefined;
    return new Promise((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.kill(signal);
    });
  }

  wipe(node: NodeProcess): void {
    rmSync(node.dataDir, { recursive: true, force: true });
  }

  async status(node: NodeProcess): Promise<StatusResponse> {
    return unaryCall<StatusResponse>((cb) => node.cluster.status({}, new grpc.Metadata(), { deadline: Date.now() + 2000 }, cb));
  }

  /** Waits until the live nodes agree on one leader; returns it. */
  async waitForLeader(deadlineMs = 30_000): Promise<NodeProcess> {
    return waitFor(
      async () => {
        const live = this.nodes.filter((n) => n.process !== undefined);
        const statuses = await Promise.all(live.map((n) => this.status(n).catch(() => undefined)));
        const leaders = statuses.filter((s) => s?.role === 'leader');
        if (leaders.length !== 1) return undefined;
        const leaderId = leaders[0]!.id;
        const agreeing = statuses.filter((s) => s?.leaderId === leaderId).length;
        return agreeing * 2 > this.nodes.length ? this.node(leaderId) : undefined;
      },
      { deadlineMs, intervalMs: 50, what: 'a leader' },
    );
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.kill(n)));
    // CAIRN_TEST_LOGS=dir keeps every node's log for debugging a failed run.
    const keep = process.env.CAIRN_TEST_LOGS;
    if (keep) for (const n of this.nodes) writeFileSync(join(keep, `${Date.now()}-node-${n.id}.log`), n.stderr);
    for (const n of this.nodes) {
      n.kv.close();
      n.cluster.close();
    }
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** Promisifies a grpc-js unary call; a failure carries the decoded ErrorDetail. */
export function unaryCall<T>(start: (callback: (error: grpc.ServiceError | null, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    start((error, value) => {
      if (error) {
        const raw = error.metadata?.get(ERROR_TRAILER)[0];
        const detail = raw instanceof Buffer ? ErrorDetail.decode(raw) : undefined;
        reject(Object.assign(error, { detail }));
      } else resolve(value as T);
    });
  });
}

export type CallError = grpc.ServiceError & { detail?: ErrorDetail };

/** Two clusters that must never mix (issue 17 §3), each with its leader elected. */
export interface TwoClusters {
  /** Cluster A: nodes 1..size. */
  readonly a: TestCluster;
  /** Cluster B, started apart: one node whose id, 3, is also one of A's, under the same default name. */
  readonly b: TestCluster;
  readonly bNode: NodeProcess;
  stop(): Promise<void>;
}

export async function startTwoClusters(size: number): Promise<TwoClusters> {
  const a = await TestCluster.start({ size });
  let b: TestCluster | undefined;
  try {
    b = await TestCluster.start({ size: 0 });
    const bNode = await b.addNodeSlot(3);
    await b.launch(bNode);
    await a.waitForLeader();
    await b.waitForLeader();
    const started = b;
    return {
      a,
      b,
      bNode,
      stop: async () => {
        await a.stop();
        await started.stop();
      },
    };
  } catch (error) {
    await a.stop();
    await b?.stop();
    throw error;
  }
}
