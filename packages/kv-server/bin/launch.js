// How every launcher starts a `cairn-server` process (cairn-server's bin,
// `npm start`, the demo, the benchmark, `kvctl cluster up`, the testkit):
// the server's Node flags, its entry, its flags, and the moment it serves.
// Plain JavaScript that imports nothing from the server, so a launcher
// neither loads nor builds the server to use it.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// node-flags.json holds the Node flags every server process runs with.
//
// --max-semi-space-size=2: a 2 MiB young generation instead of V8's 16 MiB.
// A node's scavenges copy what is in flight at that instant, so a smaller
// space means more of them but each far shorter; on the 1-client benchmark
// the pauses fell from ~1.6-3 ms to ~0.45 ms and put p99 from 3.1-3.3 ms to
// 2.7-3.0 ms, with no throughput lost at 16-256 clients.
//
// --heap-growing-percent=200: the old generation may grow to three times what
// survived the last full GC before the next one (Go's GOGC=100 allows twice).
// V8 otherwise keeps the leader's heap ~5 MB above its ~21 MB live set and
// runs a mark-compact every ~1.6 s at 1 client, each with incremental
// marking steps of up to 7 ms on the main thread. Now it runs one every
// ~6-10 s: put p99 (after warm-up) ~2.1 -> ~1.6 ms, p999 ~10 -> ~5.5 ms. The
// leader's RSS after 30 s of 1-client puts rose ~20 MB; the RSS benchmark
// (10k-1M keys under 256-client load) did not rise.
export const SERVER_NODE_FLAGS = Object.freeze(JSON.parse(readFileSync(new URL('./node-flags.json', import.meta.url), 'utf8')));

/** What the server prints on stdout once it serves, after its signal handlers are in place (main.ts). */
export const SERVING_MARK = 'serving gRPC';

const SOURCE_MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const BUILT_MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));

/** Why a launch failed before the node served. */
export class LaunchError extends Error {
  constructor(code, message, exit = {}) {
    super(message);
    this.name = 'LaunchError';
    this.code = code;
    this.exitCode = exit.exitCode ?? null;
    this.signal = exit.signal ?? null;
  }
}

/**
 * The Node arguments that run the server: the TypeScript sources through tsx
 * (resolved from here, so any working directory works), or the build when
 * asked for and present. A stale dist/ never shadows the sources; the build is
 * the fallback only where tsx is not installed.
 */
export function serverEntry(from = process.env.CAIRN_FROM_DIST === '1' ? 'dist' : 'source') {
  const tsx = resolveTsx();
  const built = existsSync(BUILT_MAIN);
  if (built && (from === 'dist' || tsx === undefined)) return [BUILT_MAIN];
  if (tsx !== undefined && existsSync(SOURCE_MAIN)) return ['--conditions=@cairn/source', '--import', tsx, SOURCE_MAIN];
  throw new LaunchError('NO_ENTRY', `cairn-server: neither ${SOURCE_MAIN} with tsx nor a build at ${BUILT_MAIN}`);
}

function resolveTsx() {
  try {
    return import.meta.resolve('tsx');
  } catch {
    return undefined;
  }
}

/** The command that runs the server with `args`; the caller's `nodeFlags` follow the defaults, so they win. */
export function serverCommandLine({ args, nodeFlags = [], from }) {
  return { command: process.execPath, args: [...SERVER_NODE_FLAGS, ...nodeFlags, ...serverEntry(from), ...args] };
}

/** A node's identity flags: id, addresses, data dir and every `--peer`. */
export function identityFlags({ id, address, clientAddress, dataDir, peers = [] }) {
  return [
    '--id',
    String(id),
    '--addr',
    address,
    ...(clientAddress === undefined ? [] : ['--client-addr', clientAddress]),
    '--data-dir',
    dataDir,
    ...peers.flatMap((peer) => ['--peer', `${peer.id}=${peer.address}`]),
  ];
}

/**
 * Spawns one node with stdout and stderr piped. `serving` resolves when it
 * announces SERVING_MARK and rejects with a LaunchError if it exits (or
 * cannot be spawned) first; it has no deadline of its own.
 */
export function launchNode(options) {
  const server = serverCommandLine({
    args: [...identityFlags(options), ...(options.args ?? [])],
    nodeFlags: options.nodeFlags,
    from: options.from,
  });
  const wrapper = options.wrapper ?? [];
  const [command, args] =
    wrapper.length === 0 ? [server.command, server.args] : [wrapper[0], [...wrapper.slice(1), server.command, ...server.args]];
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env,
    detached: options.detached ?? false,
    stdio: ['ignore', 'pipe', 'pipe', ...(options.ipc ? ['ipc'] : [])],
  });
  // The channel never keeps the launcher alive; its closing is what stops an orphaned server (main.ts).
  child.channel?.unref();
  const { id, address, clientAddress, dataDir } = options;
  return { id, address, clientAddress, dataDir, child, serving: untilServing(child, id) };
}

function untilServing(child, id) {
  const serving = new Promise((resolve, reject) => {
    let seen = '';
    const settle = (error) => {
      child.stdout.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
      if (error === undefined) resolve();
      else reject(error);
    };
    const onData = (chunk) => {
      // Keep enough of the previous chunk for a mark split across two.
      seen = seen.slice(-SERVING_MARK.length) + chunk.toString();
      if (seen.includes(SERVING_MARK)) settle();
    };
    const onExit = (exitCode, signal) =>
      settle(new LaunchError('EXITED', `node ${id} exited with ${signal ?? exitCode} before serving`, { exitCode, signal }));
    const onError = (error) => settle(new LaunchError('SPAWN_FAILED', `node ${id} could not be started: ${error.message}`));
    child.stdout.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
  // A launcher that never awaits `serving` must not die of an unhandled rejection.
  serving.catch(() => undefined);
  return serving;
}
