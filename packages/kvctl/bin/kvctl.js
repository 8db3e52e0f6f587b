#!/usr/bin/env node
// The kvctl executable. Runs the built CLI from dist/ when it exists; in a
// source checkout without a build, loads the TypeScript sources in this same
// process through tsx's loader, with workspace packages resolving to their
// src/ (the `@cairn/source` export condition). One process, so signals reach
// the CLI directly and start-up pays for one Node, not two.
import { existsSync } from 'node:fs';
import { register } from 'node:module';

const builtCli = new URL('../dist/cli.js', import.meta.url);
const sourceCli = new URL('../src/cli.ts', import.meta.url);

/** Adds `@cairn/source` to every resolution, as `node --conditions=@cairn/source` would. */
const SOURCE_CONDITION_HOOK =
  'data:text/javascript,' +
  encodeURIComponent(
    'export async function resolve(specifier, context, next) {' +
      ' return next(specifier, { ...context, conditions: [...context.conditions, "@cairn/source"] }); }',
  );

if (existsSync(builtCli)) {
  const { runFromProcess } = await import(builtCli.href);
  runFromProcess();
} else {
  let tsx;
  try {
    // Resolved from this file, not the caller's cwd, so kvctl works from any directory.
    tsx = await import('tsx/esm/api');
  } catch {
    process.stderr.write('error: INTERNAL: kvctl is not built and tsx is not installed; run `npm install` or build kvctl\n');
    process.exit(10);
  }
  tsx.register();
  // Registered last, so it runs first and hands tsx the extended conditions.
  register(SOURCE_CONDITION_HOOK);
  const { runFromProcess } = await import(sourceCli.href);
  runFromProcess();
}
