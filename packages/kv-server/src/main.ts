/**
 * The `cairn-server` binary: parse flags, start the node, stop gracefully on
 * SIGINT/SIGTERM. No logic lives here. Every failure is one line on stderr
 * (`cairn-server: error: CODE: message`) and a non-zero exit, never a stack trace.
 */
import { parseNodeArgs, USAGE } from './config.js';
import { startNode, type RunningNode } from './server.js';
import { ConfigError, describeStartupError, type StartupFailureCode } from './startup-errors.js';

const EXIT_USAGE = 2;
const EXIT_STARTUP = 1;
/** A repeat of a stop signal within this window is the same request delivered twice. */
const SIGNAL_REPEAT_MS = 1000;

function fail(code: StartupFailureCode | 'SHUTDOWN_FAILED', message: string, exitCode: number): never {
  process.stderr.write(`cairn-server: error: ${code}: ${message}\n`);
  process.exit(exitCode);
}

async function main(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseNodeArgs(argv);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.code, error.message, EXIT_USAGE);
    throw error;
  }
  if (parsed.help) {
    process.stdout.write(USAGE);
    return;
  }
  let node: RunningNode;
  try {
    node = await startNode(parsed.options);
  } catch (error) {
    const { code, message } = describeStartupError(error);
    fail(code, message, EXIT_STARTUP);
  }
  let firstSignalAt: number | undefined;
  const shutdown = (signal: string): void => {
    const now = Date.now();
    if (firstSignalAt !== undefined) {
      // One Ctrl-C can arrive twice: from the terminal to the process group
      // and again from a launcher that forwards it (cairn-server's bin,
      // systemd's control-group kill). Only a later one means "now".
      if (now - firstSignalAt < SIGNAL_REPEAT_MS) return;
      process.stderr.write(`cairn-server: second ${signal}, exiting now\n`);
      process.exit(130);
    }
    firstSignalAt = now;
    node.stop().then(
      () => process.exit(0),
      (error: unknown) => fail('SHUTDOWN_FAILED', describeStartupError(error).message, 1),
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  onLauncherGone = () => shutdown('launcher exit');
  // Announce only once the signal handlers are installed: a supervisor may
  // send SIGTERM as soon as it sees this line.
  process.stdout.write(
    `cairn-server: node ${node.id} serving gRPC on ${node.grpcAddress}${node.httpAddress ? `, HTTP on http://${node.httpAddress}` : ''}\n`,
  );
}

/**
 * Run by cairn-server's bin, the server has an IPC channel to it. When the
 * launcher dies, even by SIGKILL, the channel closes and the server stops
 * too, instead of living on as an orphan holding its data dir's lock and
 * its ports. (The channel is unref'd: it never keeps the process alive.)
 */
let onLauncherGone: () => void = () => process.exit(EXIT_STARTUP);
if (process.channel !== undefined) {
  process.channel.unref();
  process.once('disconnect', () => onLauncherGone());
}

process.on('uncaughtException', (error) => fail('INTERNAL', describeStartupError(error).message, 1));
process.on('unhandledRejection', (error) => fail('INTERNAL', describeStartupError(error).message, 1));
await main(process.argv.slice(2));
