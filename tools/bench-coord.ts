/**
 * `npm run bench:coord`: issue 20's coordination benchmark, Cairn beside
 * etcd 3.4, both as fresh 3-member clusters on this machine, driven by the same
 * grpc-js code (tools/bench/coord-run.ts):
 *   - watch fan-out: 1 writer, N watchers on one prefix: events delivered/s, delivery latency
 *   - lease keep-alive: N leases kept alive: the leader's CPU and disk writes per second
 * Options: --no-etcd, --watchers N (1000), --streams N (10), --rate N writes/s (100),
 * --leases N (10000), --ttl S (10), --duration S (15), --rounds N (1), --nodes N (3), --systems etcd,cairn,
 * --cpu-prof DIR (Cairn nodes write V8 CPU profiles there on exit).
 */
import { parseArgs } from 'node:util';
import { CairnCluster } from './bench/cairn-cluster.js';
import { cairnUnaryTarget } from './bench/cairn-unary.js';
import { cairnCoordProtocol, etcdCoordProtocol } from './bench/coord-systems.js';
import {
  runLeaseKeepAlive,
  runWatchFanout,
  type CoordSystem,
  type LeaseKeepAliveResult,
  type WatchFanoutResult,
} from './bench/coord-run.js';
import { DEFAULT_ETCD_BINARY, EtcdCluster, etcdAvailable } from './bench/etcd-cluster.js';
import { Teardown } from './bench/processes.js';

interface Row {
  system: string;
  round: number;
  watch: WatchFanoutResult;
  lease: LeaseKeepAliveResult;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      'no-etcd': { type: 'boolean', default: false },
      watchers: { type: 'string', default: '1000' },
      streams: { type: 'string', default: '10' },
      rate: { type: 'string', default: '100' },
      leases: { type: 'string', default: '10000' },
      ttl: { type: 'string', default: '10' },
      duration: { type: 'string', default: '15' },
      rounds: { type: 'string', default: '1' },
      nodes: { type: 'string', default: '3' },
      systems: { type: 'string', default: 'etcd,cairn' },
      'cpu-prof': { type: 'string' },
    },
  });
  const n = (name: keyof typeof values): number => Number(values[name]);
  const withEtcd = values['no-etcd'] !== true && etcdAvailable(DEFAULT_ETCD_BINARY);
  const rows: Row[] = [];
  for (let round = 1; round <= n('rounds'); round++) {
    for (const system of values.systems!.split(',').filter((s) => s === 'cairn' || (s === 'etcd' && withEtcd))) {
      const teardown = new Teardown();
      // Ctrl-C: kill this round's processes and temp dirs at once, then exit as interrupted.
      const interrupted = (): void => {
        teardown.killAllNow();
        process.exit(130);
      };
      process.once('SIGINT', interrupted);
      try {
        const coord =
          system === 'etcd' ? await startEtcd(n('nodes'), teardown) : await startCairn(n('nodes'), teardown, values['cpu-prof']);
        process.stderr.write(`${system} round ${round}: watch fan-out...\n`);
        const watch = await runWatchFanout(coord, {
          watchers: n('watchers'),
          streams: n('streams'),
          writesPerSecond: n('rate'),
          durationS: n('duration'),
          valueBytes: 100,
        });
        process.stderr.write(`${system} round ${round}: lease keep-alive...\n`);
        const lease = await runLeaseKeepAlive(coord, {
          leases: n('leases'),
          streams: n('streams'),
          ttlSeconds: n('ttl'),
          durationS: n('duration'),
        });
        rows.push({ system, round, watch, lease });
      } finally {
        process.off('SIGINT', interrupted);
        await teardown.runAll();
      }
    }
  }
  process.stdout.write(report(rows, values));
  return 0;
}

async function startEtcd(size: number, teardown: Teardown): Promise<CoordSystem> {
  const cluster = await EtcdCluster.start(DEFAULT_ETCD_BINARY, size, teardown);
  const leader = await cluster.leader();
  const target = await cluster.target();
  const grpcAddress = (url: string): string => url.replace(/^http:\/\//, '');
  return {
    name: 'etcd',
    protocol: etcdCoordProtocol(),
    addresses: cluster.members.map((m) => grpcAddress(m.clientAddress)),
    leaderAddress: grpcAddress(leader.clientAddress),
    leaderPid: leader.process.pid,
    pids: cluster.members.map((m) => m.process.pid),
    put: (key, value) => target.put(0, key, value),
  };
}

async function startCairn(size: number, teardown: Teardown, cpuProfileDir: string | undefined): Promise<CoordSystem> {
  const cluster = await CairnCluster.start({ size, cpuProfileDir, serverArgs: [] }, teardown);
  const leader = await cluster.leader();
  const target = cairnUnaryTarget(cluster.nodes.map((node) => node.address));
  teardown.add(() => target.close());
  return {
    name: 'cairn',
    protocol: cairnCoordProtocol(),
    addresses: cluster.nodes.map((node) => node.address),
    leaderAddress: leader.address,
    leaderPid: leader.process.pid,
    pids: cluster.nodes.map((node) => node.process.pid),
    put: (key, value) => target.put(0, key, value),
  };
}

const fixed = (value: number, digits = 0): string => (Number.isFinite(value) ? value.toFixed(digits) : '-');

function report(rows: readonly Row[], options: Record<string, unknown>): string {
  const lines = [
    `coordination benchmark: ${options.nodes} members, ${options.watchers} watchers on one prefix over ${options.streams} Watch streams (round-robin on every member), 1 writer at ${options.rate} puts/s (unary, to the leader) for ${options.duration} s; ${options.leases} leases with TTL ${options.ttl} s kept alive every TTL/3 over ${options.streams} LeaseKeepAlive streams to the leader`,
    '',
    '| system | round | writes | delivered / expected | events/s | p50 ms | p99 ms | put p50/p99 ms | srv µs/event | gen cpu% | leases | keep-alives/s | lost | leader cpu% | leader µs/keep-alive | leader disk B/s |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const { system, round, watch, lease } of rows) {
    lines.push(
      `| ${system} | ${round} | ${watch.writes} | ${watch.delivered} / ${watch.expected} | ${fixed(watch.deliveredPerSecond)} | ${fixed(watch.latency.p50, 2)} | ${fixed(watch.latency.p99, 2)} | ${fixed(watch.putLatency.p50, 2)}/${fixed(watch.putLatency.p99, 2)} | ${fixed(watch.serverMicrosPerEvent, 1)} | ${fixed(watch.generatorCpuPercent)} | ${lease.leases} | ${fixed(lease.keepAlivesPerSecond)} | ${lease.lost} | ${fixed(lease.leaderCpuPercent, 1)} | ${fixed(lease.leaderMicrosPerKeepAlive, 1)} | ${fixed(lease.leaderDiskWriteBytesPerSecond)} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench:coord failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
