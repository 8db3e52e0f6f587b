#!/usr/bin/env node
// Runs the built server if present, otherwise the TypeScript sources through tsx.
import { existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const built = join(here, '..', 'dist', 'main.js');
// `npm run build` output is used only when asked for (CAIRN_FROM_DIST=1): a
// stale dist/ must never shadow the sources.
if (existsSync(built) && process.env.CAIRN_FROM_DIST === '1') {
  await import(built);
} else {
  // Resolve tsx from this file, so the binary works from any directory.
  const tsx = import.meta.resolve('tsx');
  const child = spawn(process.execPath, ['--conditions=@cairn/source', '--import', tsx, join(here, '..', 'src', 'main.ts'), ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
}
