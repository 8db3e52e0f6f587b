/**
 * The two coordination scenarios of issue 20, run the same way against each
 * system through CoordProtocol (coord-systems.ts):
 *
 * - watch fan-out: `watchers` prefix watches on one prefix, spread over
 *   `streams` Watch streams opened round-robin on every member, and one writer
 *   putting at a fixed rate (open loop) to the leader. Each value starts with
 *   the writer's clock at send time, so every delivery gives a latency
 *   (put sent -> event received by a watcher, same process and clock).
 * - lease keep-alive: `leases` leases granted on the leader, each kept alive
 *   every TTL/3 over `streams` LeaseKeepAlive streams to the leader; the
 *   leader's CPU and disk writes are read from /proc over the window.
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { CoordProtocol } from './coord-systems.js';
import { grpcClient, unary } from './grpc-unary.js';
import { LatencyRecorder, type LatencySummaryMs } from './latency.js';
import { cpuSecondsOrNaN } from './proc-stats.js';
import { sleep } from './processes.js';

export interface CoordSystem {
  readonly name: string;
  readonly protocol: CoordProtocol;
  /** Every member's gRPC address. */
  readonly addresses: readonly string[];
  readonly leaderAddress: string;
  readonly leaderPid: number;
  readonly pids: readonly number[];
  put(key: Buffer, value: Buffer): Promise<void>;
}

export interface WatchFanoutOptions {
  readonly watchers: number;
  readonly streams: number;
  readonly writesPerSecond: number;
  readonly durationS: number;
  readonly valueBytes: number;
}

export interface WatchFanoutResult {
  readonly writes: number;
  readonly expected: number;
  readonly delivered: number;
  readonly deliveredPerSecond: number;
  readonly latency: LatencySummaryMs;
  /** CPU seconds of all members over the run ÷ deliveries, in µs. */
  readonly serverMicrosPerEvent: number;
  /** The writer's put latency (sent -> acknowledged). */
  readonly putLatency: LatencySummaryMs;
  /** This process's CPU over the run, in % of one core (100 = the load generator was the limit). */
  readonly generatorCpuPercent: number;
}

const CREATE_DEADLINE_MS = 30_000;
const DRAIN_DEADLINE_MS = 15_000;
const CALL_DEADLINE_MS = 30_000;

const nowMs = (): number => performance.timeOrigin + performance.now();

export async function runWatchFanout(system: CoordSystem, options: WatchFanoutOptions): Promise<WatchFanoutResult> {
  const prefix = Buffer.from(`fan/${Date.now()}/`);
  const clients = system.addresses.map((address) => grpcClient(address));
  const latency = new LatencyRecorder();
  let delivered = 0;
  let created = 0;
  const streams: grpc.ClientDuplexStream<object, object>[] = [];
  try {
    for (let s = 0; s < options.streams; s++) {
      const client = clients[s % clients.length]!;
      const stream = client.makeBidiStreamRequest(
        system.protocol.watch.path,
        system.protocol.watch.requestSerialize,
        system.protocol.watch.responseDeserialize,
        new grpc.Metadata(),
      );
      stream.on('error', () => undefined);
      stream.on('data', (response: { created?: boolean }) => {
        if (response.created === true) created += 1;
        const now = nowMs();
        for (const value of system.protocol.eventsOf(response).values) {
          if (value.length >= 8) latency.record(now - value.readDoubleLE(0));
          delivered += 1;
        }
      });
      streams.push(stream);
      const watchesHere = Math.floor(options.watchers / options.streams) + (s < options.watchers % options.streams ? 1 : 0);
      for (let w = 0; w < watchesHere; w++) stream.write(system.protocol.watchPrefix(prefix));
    }
    const createDeadline = Date.now() + CREATE_DEADLINE_MS;
    while (created < options.watchers) {
      if (Date.now() > createDeadline) throw new Error(`${system.name}: only ${created} of ${options.watchers} watches created`);
      await sleep(20);
    }
    const cpuBefore = sumCpu(system.pids);
    const generatorBefore = process.cpuUsage();
    const started = nowMs();
    const putLatency = new LatencyRecorder();
    const writes = await writeAtRate(system, prefix, options, putLatency);
    const puts = putLatency.summary();
    const expected = writes * options.watchers;
    const drainDeadline = Date.now() + DRAIN_DEADLINE_MS;
    while (delivered < expected && Date.now() < drainDeadline) await sleep(10);
    const elapsedS = (nowMs() - started) / 1000;
    const cpu = sumCpu(system.pids) - cpuBefore;
    const generator = process.cpuUsage(generatorBefore);
    return {
      putLatency: puts,
      generatorCpuPercent: ((generator.user + generator.system) / 1e6 / elapsedS) * 100,
      writes,
      expected,
      delivered,
      deliveredPerSecond: delivered / elapsedS,
      latency: latency.summary(),
      serverMicrosPerEvent: (cpu * 1e6) / Math.max(1, delivered),
    };
  } finally {
    for (const stream of streams) stream.cancel();
    for (const client of clients) client.close();
  }
}

/** Puts at a fixed rate (open loop, 10 ms slots) for the duration; returns the number acknowledged. */
async function writeAtRate(system: CoordSystem, prefix: Buffer, options: WatchFanoutOptions, putLatency: LatencyRecorder): Promise<number> {
  const slotMs = 10;
  const perSlot = (options.writesPerSecond * slotMs) / 1000;
  const end = nowMs() + options.durationS * 1000;
  let owed = 0;
  let sent = 0;
  let acked = 0;
  const pending: Promise<void>[] = [];
  while (nowMs() < end) {
    owed += perSlot;
    while (owed >= 1) {
      owed -= 1;
      const value = Buffer.alloc(Math.max(8, options.valueBytes), 0x61);
      value.writeDoubleLE(nowMs(), 0);
      const key = Buffer.concat([prefix, Buffer.from(String(sent % 100))]);
      sent += 1;
      const sentAt = nowMs();
      pending.push(
        system.put(key, value).then(() => {
          acked += 1;
          putLatency.record(nowMs() - sentAt);
        }),
      );
    }
    await sleep(slotMs);
  }
  await Promise.allSettled(pending);
  return acked;
}

export interface LeaseKeepAliveOptions {
  readonly leases: number;
  readonly streams: number;
  readonly ttlSeconds: number;
  readonly durationS: number;
}

export interface LeaseKeepAliveResult {
  readonly leases: number;
  readonly keepAlivesPerSecond: number;
  /** Keep-alive answers with TTL 0 (a lease the server no longer has). */
  readonly lost: number;
  readonly leaderCpuPercent: number;
  readonly leaderMicrosPerKeepAlive: number;
  readonly leaderDiskWriteBytesPerSecond: number;
}

export async function runLeaseKeepAlive(system: CoordSystem, options: LeaseKeepAliveOptions): Promise<LeaseKeepAliveResult> {
  const client = grpcClient(system.leaderAddress);
  const streams: grpc.ClientDuplexStream<object, object>[] = [];
  try {
    const ids: string[] = [];
    let next = 0;
    const granter = async (): Promise<void> => {
      while (next < options.leases) {
        next += 1;
        const response = await unary(client, system.protocol.grant, system.protocol.grantRequest(options.ttlSeconds), CALL_DEADLINE_MS);
        ids.push(system.protocol.leaseIdOf(response));
      }
    };
    await Promise.all(Array.from({ length: 64 }, granter));
    let answered = 0;
    let lost = 0;
    for (let s = 0; s < options.streams; s++) {
      const stream = client.makeBidiStreamRequest(
        system.protocol.keepAlive.path,
        system.protocol.keepAlive.requestSerialize,
        system.protocol.keepAlive.responseDeserialize,
        new grpc.Metadata(),
      );
      stream.on('error', () => undefined);
      stream.on('data', (response: object) => {
        answered += 1;
        if (system.protocol.ttlOf(response) <= 0) lost += 1;
      });
      streams.push(stream);
    }
    // Each lease is renewed every TTL/3, the renewals spread evenly over that period (as many independent clients would).
    const periodMs = (options.ttlSeconds * 1000) / 3;
    const slotMs = 50;
    const slots = Math.max(1, Math.round(periodMs / slotMs));
    const keepAliveSlot = (slot: number): void => {
      for (let i = slot % slots; i < ids.length; i += slots) streams[i % streams.length]!.write(system.protocol.keepAliveRequest(ids[i]!));
    };
    let slot = 0;
    const warmupEnd = nowMs() + periodMs;
    while (nowMs() < warmupEnd) {
      keepAliveSlot(slot++);
      await sleep(slotMs);
    }
    const cpuBefore = cpuSecondsOrNaN(system.leaderPid);
    const diskBefore = writeBytes(system.leaderPid);
    const answeredBefore = answered;
    const started = nowMs();
    const end = started + options.durationS * 1000;
    while (nowMs() < end) {
      keepAliveSlot(slot++);
      await sleep(slotMs);
    }
    const elapsedS = (nowMs() - started) / 1000;
    const cpu = cpuSecondsOrNaN(system.leaderPid) - cpuBefore;
    const count = answered - answeredBefore;
    return {
      leases: ids.length,
      keepAlivesPerSecond: count / elapsedS,
      lost,
      leaderCpuPercent: (cpu / elapsedS) * 100,
      leaderMicrosPerKeepAlive: (cpu * 1e6) / Math.max(1, count),
      leaderDiskWriteBytesPerSecond: (writeBytes(system.leaderPid) - diskBefore) / elapsedS,
    };
  } finally {
    for (const stream of streams) stream.cancel();
    client.close();
  }
}

function sumCpu(pids: readonly number[]): number {
  return pids.reduce((total, pid) => total + cpuSecondsOrNaN(pid), 0);
}

/** Bytes the process caused to be written to storage (/proc/<pid>/io write_bytes). */
function writeBytes(pid: number): number {
  const match = /^write_bytes:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
  return match === null ? NaN : Number(match[1]);
}
