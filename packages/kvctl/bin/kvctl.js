#!/usr/bin/env node
// The kvctl executable. Runs the built CLI from dist/ when it exists; in a
// source checkout without a build, re-runs itself through tsx with the
// @cairn/source condition so workspace packages resolve to their src/.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const builtCli = new URL('../dist/cli.js', import.meta.url);
const sourceCli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));

if (existsSync(builtCli)) {
  const { runFromProcess } = await import(builtCli.href);
  runFromProcess();
} else {
  // tsx by absolute URL, resolved from this file: a bare `--import tsx` would be
  // resolved from the caller's cwd and fail outside the repository.
  let tsxUrl;
  try {
    tsxUrl = import.meta.resolve('tsx');
  } catch {
    process.stderr.write('error: INTERNAL: kvctl is not built and tsx is not installed; run `npm install` or `npx nx build kvctl`\n');
    process.exit(10);
  }
  const child = spawn(
    process.execPath,
    ['--conditions=@cairn/source', '--import', tsxUrl, sourceCli, ...process.argv.slice(2)],
    { stdio: 'inherit' },
  );
  // The child handles Ctrl-C itself (the terminal signals the whole group); forward SIGTERM.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  child.on('exit', (code, signal) => {
    if (signal !== null) process.kill(process.pid, signal);
    else process.exit(code ?? 10);
  });
  child.on('error', (error) => {
    process.stderr.write(`error: INTERNAL: cannot start kvctl: ${error.message}\n`);
    process.exit(10);
  });
}
