#!/usr/bin/env node
// `npm test`: check formatting, then lint, typecheck and test every package
// through nx, then print one closing line `N passed, N failed` summed from
// node:test's summaries.
import { spawn, spawnSync } from 'node:child_process';

// Formatting is checked once for the whole repo (packages and tools/), before
// the slower steps, so an unformatted file fails fast with the command to fix it.
const format = spawnSync('npx', ['prettier', '--check', '.', '--log-level', 'warn'], { stdio: 'inherit' });
if (format.status !== 0) {
  console.error('npm test: files are not formatted; run `npm run format` (prettier) and commit the result');
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const args = ['nx', 'run-many', '-t', 'lint', 'typecheck', 'test', '--output-style=static', ...process.argv.slice(2)];
// CI runs from a clean clone; never replay a cached result there.
if (process.env.CI === 'true' && !args.includes('--skip-nx-cache')) args.push('--skip-nx-cache');

const child = spawn('npx', args, {
  stdio: ['ignore', 'pipe', 'pipe'],
  env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' },
});
let passed = 0;
let failed = 0;
let pending = '';
function scan(chunk) {
  pending += chunk.toString('utf8');
  const lines = pending.split('\n');
  pending = lines.pop() ?? '';
  for (const line of lines) count(line);
}
function count(line) {
  // A file that outlives --test-timeout is reported as cancelled: count it as failed.
  const m = /^(?:# |ℹ )(pass|fail|cancelled) (\d+)\s*$/.exec(line);
  if (m) {
    if (m[1] === 'pass') passed += Number(m[2]);
    else failed += Number(m[2]);
  }
}
child.stdout.on('data', (c) => {
  process.stdout.write(c);
  scan(c);
});
child.stderr.on('data', (c) => {
  process.stderr.write(c);
  scan(c);
});
child.on('close', (code) => {
  if (pending) count(pending);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(code ?? 1);
});
