/**
 * Entry point of the live demo (`npm start`, or
 * `node --conditions=@cairn/source --import tsx tools/demo/main.ts --help`).
 * Exit codes: 0 = history linearizable and every node exited cleanly;
 * 1 = not linearizable, undecided, or a node crashed; 2 = bad usage or setup.
 * Failures are one line on stderr, never a stack trace.
 */
import { CONSOLE_OUTPUT, errorCode } from './action-log.js';
import { Demo } from './demo.js';
import { DEMO_USAGE, DemoUsageError, parseDemoArgs } from './options.js';

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;
const EXIT_INTERRUPTED = 130;

function fail(code: string, message: string, exitCode: number): never {
  process.stderr.write(`demo: error: ${code}: ${message}\n`);
  process.exit(exitCode);
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseDemoArgs(argv, process.cwd());
  } catch (error) {
    if (error instanceof DemoUsageError) fail(error.code, `${error.message}\n${DEMO_USAGE}`, EXIT_USAGE);
    throw error;
  }
  if (parsed.help) {
    process.stdout.write(DEMO_USAGE);
    return EXIT_OK;
  }
  const demo = new Demo(parsed.options, CONSOLE_OUTPUT);
  const stop = new AbortController();
  let signals = 0;
  const onSignal = (signal: string): void => {
    signals += 1;
    if (signals === 1) {
      process.stdout.write(`\n${signal}: stopping (again to kill the nodes at once)…\n`);
      stop.abort();
      return;
    }
    demo.killNow();
    process.exit(EXIT_INTERRUPTED);
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  // Nodes run in their own process groups; never leave them behind.
  process.on('exit', () => demo.killNow());
  try {
    const summary = await demo.run(stop.signal);
    return summary.check.verdict === 'linearizable' && !summary.crashed ? EXIT_OK : EXIT_FAILED;
  } catch (error) {
    demo.killNow();
    const code = errorCode(error);
    const message = error instanceof Error ? error.message : String(error);
    fail(code, message, code === 'PORT_BUSY' || code === 'DEMO_SETUP' ? EXIT_USAGE : EXIT_FAILED);
  }
}

process.exit(await main(process.argv.slice(2)));
