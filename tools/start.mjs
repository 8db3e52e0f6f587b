#!/usr/bin/env node
// `npm start`: the live demo by default: a local 5-node Cairn cluster with a
// recorded client workload, leader preemption, membership changes and
// injected faults; Ctrl-C stops it and checks the history for
// linearizability (tools/demo; `npm start -- --help` lists its options).
//
// `npm start -- --plain [--nodes N] [--base-port P]`: a plain N-node cluster
// (default 3) with no workload, data under ./data/node-N, logs in
// ./data/node-N/node.log; cluster events are echoed here.
//
// The nodes run the built server (packages/kv-server/dist), as in production:
// it is built first (nx caches it, so a start with nothing changed adds about
// a second; a fresh clone about half a minute). CAIRN_FROM_DIST=0 skips the
// build and runs the nodes from the TypeScript sources through tsx. The demo
// itself runs from its sources through tsx.
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { launchNode } from '@cairn/kv-server/launch';
import { buildServer } from './build-server.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE_FLAGS = ['--conditions=@cairn/source', '--import', 'tsx'];
// npm forwards a terminal's Ctrl-C to us as well; a repeat within this window is the same keypress.
const SIGNAL_REPEAT_MS = 1000;

const argv = process.argv.slice(2);
if (!argv.includes('--help') && !argv.includes('-h')) {
  if (!buildServer()) process.exit(1);
  // Every node of this run, and of the demo this starts, runs the build just made (launch.js).
  process.env.CAIRN_FROM_DIST ??= '1';
}
if (argv.includes('--plain')) runPlain(argv.filter((arg) => arg !== '--plain'));
else runDemo(argv);

/** Runs tools/demo/main.ts in its own process group and relays each distinct Ctrl-C to it once. */
function runDemo(demoArgs) {
  const child = spawn(process.execPath, [...SOURCE_FLAGS, join(root, 'tools', 'demo', 'main.ts'), ...demoArgs], {
    cwd: process.cwd(),
    stdio: 'inherit',
    detached: true,
  });
  let lastSignalAt = 0;
  const relay = (signal) => {
    const now = Date.now();
    if (now - lastSignalAt < SIGNAL_REPEAT_MS) return;
    lastSignalAt = now;
    child.kill(signal);
  };
  process.on('SIGINT', () => relay('SIGINT'));
  process.on('SIGTERM', () => relay('SIGTERM'));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

function runPlain(plainArgs) {
  let args;
  try {
    args = parseArgs({
      args: plainArgs,
      options: { nodes: { type: 'string', default: '3' }, 'base-port': { type: 'string', default: '7001' } },
    }).values;
  } catch (error) {
    console.error(`npm start -- --plain: ${error.message}`);
    process.exit(2);
  }
  const count = Number(args.nodes);
  const basePort = Number(args['base-port']);
  if (!Number.isInteger(count) || count < 1 || count > 7 || !Number.isInteger(basePort) || basePort < 1024 || basePort > 64000) {
    console.error('npm start -- --plain: --nodes must be 1-7 and --base-port 1024-64000');
    process.exit(2);
  }
  const nodes = Array.from({ length: count }, (_, i) => ({
    id: i + 1,
    grpc: `127.0.0.1:${basePort + i}`,
    http: `127.0.0.1:${basePort + 1000 + i}`,
    dataDir: join(root, 'data', `node-${i + 1}`),
  }));
  const peers = nodes.map((n) => ({ id: n.id, address: n.grpc }));
  const children = new Map();
  let stopping = false;

  const stopAll = () => {
    if (stopping) return;
    stopping = true;
    for (const child of children.values()) child.kill('SIGTERM');
    setTimeout(() => {
      for (const child of children.values()) child.kill('SIGKILL');
    }, 10_000).unref();
  };

  for (const node of nodes) {
    mkdirSync(node.dataDir, { recursive: true });
    const log = createWriteStream(join(node.dataDir, 'node.log'), { flags: 'a' });
    // Own process group: Ctrl-C reaches only this script, which stops the nodes once.
    const { child } = launchNode({
      id: node.id,
      address: node.grpc,
      clientAddress: node.http,
      dataDir: node.dataDir,
      peers,
      cwd: root,
      detached: true,
    });
    children.set(node.id, child);
    child.stdout.on('data', (chunk) => process.stdout.write(`[node ${node.id}] ${chunk}`));
    let pending = '';
    child.stderr.on('data', (chunk) => {
      log.write(chunk);
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) echo(node.id, line);
    });
    child.on('exit', (code, signal) => {
      children.delete(node.id);
      if (pending) echo(node.id, pending);
      if (!stopping) {
        console.log(`[node ${node.id}] exited (${signal ?? code}); stopping the cluster`);
        stopAll();
      }
      if (children.size === 0) process.exit(stopping && code === 0 ? 0 : 1);
    });
  }

  process.on('SIGINT', () => {
    if (!stopping) console.log('\nstopping the cluster…');
    stopAll();
  });
  process.on('SIGTERM', stopAll);
  process.on('exit', () => {
    for (const child of children.values()) child.kill('SIGKILL');
  });

  const endpoints = nodes.map((n) => n.grpc).join(',');
  console.log(`Cairn: starting ${count} node(s); data in ./data, logs in ./data/node-N/node.log
  gRPC endpoints : ${endpoints}
  dashboards     : ${nodes.map((n) => `http://${n.http}/`).join('  ')}
Try (in another terminal):
  npx kvctl --endpoints ${endpoints} put greeting hello
  npx kvctl --endpoints ${endpoints} get greeting
  npx kvctl --endpoints ${endpoints} status
  curl -X PUT --data-binary world http://${nodes[0].http}/kv/hello   (a follower answers 503 with x-cairn-leader)
Ctrl-C stops the cluster.`);
}

function echo(id, line) {
  if (!line.trim()) return;
  let event;
  try {
    event = JSON.parse(line);
  } catch {
    console.log(`[node ${id}] ${line}`);
    return;
  }
  if (
    ['leader-changed', 'membership-changed', 'snapshot-taken', 'snapshot-restored', 'node-stopped', 'bootstrapped'].includes(event.event) ||
    event.level === 'error'
  ) {
    const { time: _t, level: _l, node: _n, event: name, ...fields } = event;
    console.log(`[node ${id}] ${name} ${JSON.stringify(fields)}`);
  }
}
