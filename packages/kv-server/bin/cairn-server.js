#!/usr/bin/env node
// Runs the server in a child process with the server's Node flags: the
// built server if asked for, otherwise the TypeScript sources through tsx.
import { existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SERVER_NODE_FLAGS } from './node-flags.js';

const here = dirname(fileURLToPath(import.meta.url));
const built = join(here, '..', 'dist', 'main.js');
// `npm run build` output is used only when asked for (CAIRN_FROM_DIST=1): a
// stale dist/ must never shadow the sources.
const entry = existsSync(built) && process.env.CAIRN_FROM_DIST === '1'
  ? [built]
  // Resolve tsx from this file, so the binary works from any directory.
  : ['--conditions=@cairn/source', '--import', import.meta.resolve('tsx'), join(here, '..', 'src', 'main.ts')];
// The launcher's own Node flags (e.g. --inspect) go to the server too, after the defaults so they win.
// The IPC channel is how the server notices this launcher is gone (see main.ts).
const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, ...process.execArgv, ...entry, ...process.argv.slice(2)], {
  stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
