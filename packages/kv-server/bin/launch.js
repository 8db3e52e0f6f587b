// How every launcher starts a `cairn-server` process (cairn-server's bin,
// `npm start`, the demo, the benchmark, `kvctl cluster up`, the testkit):
// the server's Node flags, its entry, its flags, and the moment it serves.
// Plain JavaScript that imports nothing from the server, so a launcher
// neither loads nor builds the server to use it.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

// node-flags.json holds the Node flags every server process runs with.
//
// --max-semi-space-size=2: a 2 MiB young generation instead of V8's 16 MiB.
// A node's scavenges copy what is in flight at that instant, so a smaller
// space means more of them but each far shorter; on the 1-client benchmark
// the pauses fell from ~1.6-3 ms to ~0.45 ms and put p99 from 3.1-3.3 ms to
// 2.7-3.0 ms, with no throughput lost at 16-256 clients.
//
// --heap-growing-percent=50: the old generation may grow to 1.5 times what
// survived the last full GC before the next one. Without the flag V8 picks
// its own factor, up to 4x under a steady load; at 1 client it kept the
// heap ~5 MB above the ~21 MB live set and ran a mark-compact every ~1.6 s.
// It was 200 (3x, fewer mark-compacts: 1-client put p99 ~2.1 -> ~1.6 ms),
// which let the old space sit at ~50-60 MiB. The leader's RSS after 20 s of
// 256-client overwrites (built JS, `npm run bench -- --rss-keys
// 10000,1000000 --no-etcd`), 200 -> 50: 10k keys 142 -> 109-115 MiB, 1M
// 213 -> 171 MiB; no flag: 166 at 10k. Put throughput at 16 and 64 clients
// did not change within the noise of 4-6 interleaved rounds
// (docs/benchmarks.md, 2026-12-07 memory).
export const SERVER_NODE_FLAGS = Object.freeze(JSON.parse(readFileSync(new URL('./node-flags.json', import.meta.url), 'utf8')));

/** What the server prints on stdout once it serves, after its signal handlers are in place (main.ts). */
export const SERVING_MARK = 'serving gRPC';

const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url));
const SOURCE_MAIN = join(PACKAGE_ROOT, 'src', 'main.ts');
const BUILT_MAIN = join(PACKAGE_ROOT, 'dist', 'main.js');
/** Written by `npm run build` after tsc: the digest of the sources the build was made from. */
const BUILD_STAMP = join(PACKAGE_ROOT, 'dist', '.sources-sha256');

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
 * Where the server runs from (the rule is in README.md and docs/operations.md):
 *  1. `requested` (CAIRN_FROM_DIST=1: 'dist', =0: 'source') decides; a missing entry is an error.
 *  2. A launcher that itself runs with the `@cairn/source` condition (the
 *     repo's tests and the tools it runs through tsx) runs the sources, so
 *     development never runs an old build.
 *  3. Any other launcher (the bin, an installed package, kvctl from its
 *     build) runs the build, unless it was made from other sources than those
 *     beside it, in which case it runs the sources and says why.
 * Pure: `built`, `stale` and `sources` are what the caller found.
 */
export function chooseServerFrom({ requested, sourceCondition, built, stale, sources }) {
  if (requested === 'dist') {
    if (!built) throw new LaunchError('NO_ENTRY', `cairn-server: CAIRN_FROM_DIST=1 but no build at ${BUILT_MAIN}; run \`npm run build\``);
    return { from: 'dist' };
  }
  if (requested === 'source' || sourceCondition) {
    if (!sources) throw new LaunchError('NO_ENTRY', `cairn-server: cannot run ${SOURCE_MAIN}: no sources or tsx is not installed`);
    return { from: 'source' };
  }
  if (built && !stale) return { from: 'dist' };
  if (sources) {
    return {
      from: 'source',
      warning: built
        ? `cairn-server: the build in ${join(PACKAGE_ROOT, 'dist')} was made from other sources than those beside it; ` +
          'running the sources through tsx (`npm run build` to run a new build, CAIRN_FROM_DIST=1 to run the old one)'
        : undefined,
    };
  }
  if (built) return { from: 'dist' };
  throw new LaunchError('NO_ENTRY', `cairn-server: neither ${SOURCE_MAIN} with tsx nor a build at ${BUILT_MAIN}`);
}

let warned = false;

/**
 * The Node arguments that run the server: the build, or the TypeScript
 * sources through tsx (resolved from here, so any working directory works).
 * `from` unset: CAIRN_FROM_DIST, else the rule of chooseServerFrom.
 */
export function serverEntry(from = requestedFrom()) {
  const tsx = resolveTsx();
  const built = existsSync(BUILT_MAIN);
  const sourceCondition = from === undefined && sourceConditionActive();
  const choice = chooseServerFrom({
    requested: from,
    sourceCondition,
    built,
    // Only worth reading the sources when the answer depends on it.
    stale: from === undefined && !sourceCondition && built && isBuildStale(),
    sources: tsx !== undefined && existsSync(SOURCE_MAIN),
  });
  if (choice.warning !== undefined && !warned) {
    warned = true;
    process.stderr.write(`${choice.warning}\n`);
  }
  return choice.from === 'dist' ? [BUILT_MAIN] : ['--conditions=@cairn/source', '--import', tsx, SOURCE_MAIN];
}

function requestedFrom() {
  const value = process.env.CAIRN_FROM_DIST;
  if (value === '1') return 'dist';
  if (value === '0') return 'source';
  return undefined;
}

function resolveTsx() {
  try {
    return import.meta.resolve('tsx');
  } catch {
    return undefined;
  }
}

/** Whether this process resolves with the `@cairn/source` condition (`--conditions`, NODE_OPTIONS or a loader hook). */
function sourceConditionActive() {
  try {
    return import.meta.resolve('@cairn/kv-server').endsWith('.ts');
  } catch {
    return false;
  }
}

/**
 * The server's sources and those of its workspace dependencies (`@cairn/*`
 * in package.json), hashed: path and content of every file under each
 * package's src/. Content, not mtimes, so a checkout that rewrites files
 * unchanged does not make a build stale. Packages without src/ (installed
 * from a registry) count for nothing.
 */
export function sourcesDigest() {
  const hash = createHash('sha256');
  for (const root of workspaceRoots()) {
    const src = join(root, 'src');
    if (!existsSync(src)) continue;
    const files = readdirSync(src, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => join(entry.parentPath ?? entry.path, entry.name))
      .sort();
    for (const file of files)
      hash
        .update(`${relative(PACKAGE_ROOT, file)}\0`)
        .update(readFileSync(file))
        .update('\0');
  }
  return hash.digest('hex');
}

/** Records which sources dist/ was built from (run by the package's `build` script after tsc). */
export function writeBuildStamp() {
  writeFileSync(BUILD_STAMP, `${sourcesDigest()}\n`);
}

function isBuildStale() {
  let stamp;
  try {
    stamp = readFileSync(BUILD_STAMP, 'utf8').trim();
  } catch {
    return true; // Built by plain tsc, not `npm run build`: cannot tell.
  }
  return stamp !== sourcesDigest();
}

function workspaceRoots() {
  const manifest = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8'));
  const roots = [PACKAGE_ROOT];
  for (const name of Object.keys(manifest.dependencies ?? {}).filter((dep) => dep.startsWith('@cairn/'))) {
    try {
      // The package's main module is <root>/dist/index.js (or src/index.ts under the source condition).
      roots.push(fileURLToPath(new URL('..', import.meta.resolve(name))));
    } catch {
      // Not installed beside us: nothing to compare.
    }
  }
  return roots;
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
