#!/usr/bin/env node
// Builds the server and the packages it runs on (`nx run @cairn/kv-server:build`,
// which nx caches: about a second when nothing changed), so that `npm start`
// and `npm run bench` run their nodes from built JavaScript, as production
// does (docs/operations.md). CAIRN_FROM_DIST=0 skips the build: the nodes then
// run from the TypeScript sources through tsx.
//
// As a command (`node tools/build-server.mjs`, the first step of `npm run
// bench`) it builds and exits non-zero if the build fails.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Builds the server; prints nx's output and returns false when the build fails. */
export function buildServer() {
  if (process.env.CAIRN_FROM_DIST === '0') return true;
  const nx = createRequire(import.meta.url).resolve('nx/bin/nx.js');
  const started = performance.now();
  const result = spawnSync(process.execPath, [nx, 'run', '@cairn/kv-server:build', '--output-style=static'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' },
  });
  if (result.status !== 0) {
    process.stderr.write(`${result.stdout ?? ''}${result.stderr ?? ''}`);
    console.error(
      `building the server failed (${result.error?.message ?? `exit ${result.status}`}); CAIRN_FROM_DIST=0 runs the sources instead`,
    );
    return false;
  }
  const seconds = (performance.now() - started) / 1000;
  if (seconds > 5) console.error(`built the server in ${seconds.toFixed(0)} s (nx caches it: the next start skips it)`);
  return true;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exit(buildServer() ? 0 : 1);
