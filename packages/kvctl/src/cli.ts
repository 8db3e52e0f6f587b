import { pathToFileURL } from 'node:url';
import type { ClerkLike } from './clerk-like.js';
import { parseArgs, type Command, type GlobalOptions } from './commands.js';
import { connectClerk } from './connect.js';
import type { CliIo } from './cli-io.js';
import { KvctlError, UsageError, describeError } from './errors.js';
import { describeClerkEvent } from './format.js';
import { EXIT_INTERNAL, EXIT_OK, EXIT_USAGE } from './exit-codes.js';
import { renderErrorJson, renderErrorPlain, renderJson, renderPlain } from './output/plain.js';
import { execute, exitCodeForResult, type ExecutableCommand, type ExecuteContext, type Result } from './run.js';
import { isLiveCommand, type LiveCommand } from './coord-commands.js';

export type { CliIo } from './cli-io.js';

type OutputMode = 'ink' | 'plain' | 'json';

/** Parses, runs and renders one invocation; resolves to the process exit code. Never throws. */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  // Before parsing succeeds, guess the format from the raw flags so usage errors match it.
  let json = argv.includes('--output=json') || argv.some((arg, index) => arg === '--output' && argv[index + 1] === 'json');
  try {
    const parsed = parseArgs(argv, io.env);
    if (parsed.kind === 'help') {
      (parsed.isError ? io.stderr : io.stdout).write(parsed.text);
      return parsed.isError ? EXIT_USAGE : EXIT_OK;
    }
    const { global, command } = parsed;
    json = global.output === 'json' || (command.kind === 'bench' && command.json);
    const mode: OutputMode = json ? 'json' : io.stdout.isTTY === true ? 'ink' : 'plain';
    if (command.kind === 'cluster-up') {
      const { runClusterUp } = await import('./cluster-up.js');
      return await runClusterUp(command, global, io);
    }
    if (isLiveCommand(command)) return await runLiveCommand(command, global, json, io);
    return await runCommand(command, global, mode, io);
  } catch (error) {
    const info = describeError(error);
    io.stderr.write(json ? renderErrorJson(info) : renderErrorPlain(info, { withHint: io.stderr.isTTY === true }));
    return error instanceof UsageError ? EXIT_USAGE : info.exitCode;
  }
}

async function runCommand(command: ExecutableCommand, global: GlobalOptions, mode: OutputMode, io: CliIo): Promise<number> {
  if (mode === 'ink') {
    const { runWithInk } = await import('./ui/run-with-ink.js');
    return runWithInk(command, { verbose: global.verbose, stdout: io.stdout, stderr: io.stderr }, (onProgress) =>
      withClerk(command, global, io, (clerk, context) => execute(command, clerk, { ...context, bench: { ...context.bench, onProgress } })),
    );
  }
  const result = await withClerk(command, global, io, (clerk, context) => execute(command, clerk, context));
  if (mode === 'json') {
    io.stdout.write(renderJson(result));
  } else {
    const output = renderPlain(result, { verbose: global.verbose });
    io.stdout.write(output.stdout);
    if (output.stderr !== undefined) io.stderr.write(output.stderr);
  }
  return exitCodeForResult(result);
}

/** Connects (unless the command needs no cluster), runs, and always closes the clerk. */
async function withClerk(
  command: ExecutableCommand,
  global: GlobalOptions,
  io: CliIo,
  run: (clerk: ClerkLike, context: ExecuteContext) => Promise<Result>,
): Promise<Result> {
  const abort = new AbortController();
  const context: ExecuteContext = { readStdin: () => readAll(io.stdin), timeoutMs: global.timeoutMs, bench: { signal: abort.signal } };
  if (!needsCluster(command)) return run(NO_CLERK, context);
  const connect = io.connect ?? connectClerk;
  const clerk = await connect({ endpoints: global.endpoints, clusterId: global.clusterId, timeoutMs: global.timeoutMs });
  // The first Ctrl-C ends a benchmark early with its summary; a second one kills the process as usual.
  const onInterrupt = (): void => {
    abort.abort();
    process.off('SIGINT', onInterrupt);
  };
  if (command.kind === 'bench') process.on('SIGINT', onInterrupt);
  if (global.verbose) void printClerkEvents(clerk, io.stderr);
  try {
    return await run(clerk, context);
  } finally {
    process.off('SIGINT', onInterrupt);
    await clerk.close();
  }
}

/** watch, lock, elect, lease keep-alive: print as they go; Ctrl-C (SIGINT) stops them cleanly, a second one kills. */
async function runLiveCommand(command: LiveCommand, global: GlobalOptions, json: boolean, io: CliIo): Promise<number> {
  const connect = io.connect ?? connectClerk;
  const clerk = await connect({ endpoints: global.endpoints, clusterId: global.clusterId, timeoutMs: global.timeoutMs });
  const stop = new AbortController();
  const onInterrupt = (): void => {
    stop.abort();
    process.off('SIGINT', onInterrupt);
  };
  process.on('SIGINT', onInterrupt);
  if (global.verbose) void printClerkEvents(clerk, io.stderr);
  try {
    const { runLive } = await import('./live.js');
    return await runLive(command, clerk, { stdout: io.stdout, stderr: io.stderr, json, signal: stop.signal });
  } finally {
    process.off('SIGINT', onInterrupt);
    await clerk.close();
  }
}

/** --verbose: the clerk's redirects, leader changes and retries, one line each on stderr. */
async function printClerkEvents(clerk: ClerkLike, stderr: NodeJS.WritableStream): Promise<void> {
  if (clerk.statusEvents === undefined) return;
  for await (const event of clerk.statusEvents()) stderr.write(`clerk: ${describeClerkEvent(event)}\n`);
}

function needsCluster(command: Command): boolean {
  return command.kind !== 'check';
}

/** Stands in for a clerk for commands that never touch the cluster; any call is a bug. */
const NO_CLERK: ClerkLike = new Proxy({} as ClerkLike, {
  get: (_target, property) => () => {
    throw new KvctlError('INTERNAL', `${String(property)} called without a cluster connection`);
  },
});

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}

/** Entry point of the `kvctl` binary: never lets a stack trace reach the user. */
export function runFromProcess(): void {
  const fail = (error: unknown): void => {
    const info = describeError(error);
    process.stderr.write(renderErrorPlain(info, { withHint: process.stderr.isTTY }));
    process.exit(info.exitCode === EXIT_OK ? EXIT_INTERNAL : info.exitCode);
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env }).then((code) => {
    process.exitCode = code;
  }, fail);
}

// Run when this file is the process entry (tsx in development); bin/kvctl.js calls runFromProcess() itself.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) runFromProcess();
