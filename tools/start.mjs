#!/usr/bin/env node
// `npm start`: a local 3-node Cairn cluster on 127.0.0.1 (gRPC 7001-7003,
// HTTP 8001-8003) with data under ./data/node-N. Node logs go to
// ./data/node-N/node.log; cluster events are echoed here. Ctrl-C stops every
// node gracefully. Options: --nodes N (1-7), --base-port P (default 7001).
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
let args;
try {
  args = parseArgs({ options: { nodes: { type: 'string', default: '3' }, 'base-port': { type: 'string', default: '7001' } } }).values;
} catch (error) {
  console.error(`npm start: ${error.message}`);
  process.exit(2);
}
const count = Number(args.nodes);
const basePort = Number(args['base-port']);
if (!Number.isInteger(count) || count < 1 || count > 7 || !Number.isInteger(basePort) || basePort < 1024 || basePort > 64000) {
  console.error('npm start: --nodes must be 1-7 and --base-port 1024-64000');
  process.exit(2);
}
const nodes = Array.from({ length: count }, (_, i) => ({
  id: i + 1,
  grpc: `127.0.0.1:${basePort + i}`,
  http: `127.0.0.1:${basePort + 1000 + i}`,
  dataDir: join(root, 'data', `node-${i + 1}`),
}));
const peerFlags = nodes.flatMap((n) => ['--peer', `${n.id}=${n.grpc}`]);
const children = new Map();
let stopping = false;

for (const node of nodes) {
  mkdirSync(node.dataDir, { recursive: true });
  const log = createWriteStream(join(node.dataDir, 'node.log'), { flags: 'a' });
  const child = spawn(
    process.execPath,
    ['--conditions=@cairn/source', '--import', 'tsx', join(root, 'packages/kv-server/src/main.ts'),
      '--id', String(node.id), '--addr', node.grpc, '--client-addr', node.http, '--data-dir', node.dataDir, ...peerFlags],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
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

function echo(id, line) {
  if (!line.trim()) return;
  let event;
  try {
    event = JSON.parse(line);
  } catch {
    console.log(`[node ${id}] ${line}`);
    return;
  }
  if (['leader-changed', 'membership-changed', 'snapshot-taken', 'snapshot-restored', 'node-stopped', 'bootstrapped'].includes(event.event) || event.level === 'error') {
    const { time: _t, level: _l, node: _n, event: name, ...fields } = event;
    console.log(`[node ${id}] ${name} ${JSON.stringify(fields)}`);
  }
}

function stopAll() {
  if (stopping) return;
  stopping = true;
  for (const child of children.values()) child.kill('SIGTERM');
  setTimeout(() => {
    for (const child of children.values()) child.kill('SIGKILL');
  }, 10_000).unref();
}

process.on('SIGINT', () => {
  console.log('\nstopping the cluster…');
  stopAll();
});
process.on('SIGTERM', stopAll);

const endpoints = nodes.map((n) => n.grpc).join(',');
console.log(`Cairn: starting ${count} node(s); data in ./data, logs in ./data/node-N/node.log
  gRPC endpoints : ${endpoints}
  HTTP           : ${nodes.map((n) => `http://${n.http}`).join('  ')}
  dashboard      : http://${nodes[0].http}/
Try (in another terminal):
  npx kvctl --endpoints ${endpoints} put greeting hello
  npx kvctl --endpoints ${endpoints} get greeting
  npx kvctl --endpoints ${endpoints} status
  curl -X PUT --data-binary world http://${nodes[0].http}/kv/hello   (a follower answers 503 with x-cairn-leader)
Ctrl-C stops the cluster.`);
