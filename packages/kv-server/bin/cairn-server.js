#!/usr/bin/env node
// Runs the built server if present, otherwise the TypeScript sources through tsx.
import { existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const built = join(here, '..', 'dist', 'main.js');
if (existsSync(built) && !process.env.CAIRN_FROM_SOURCE) {
  await import(built);
} else {
  const child = spawn(process.execPath, ['--conditions=@cairn/source', '--import', 'tsx', join(here, '..', 'src', 'main.ts'), ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
}
