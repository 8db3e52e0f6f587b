import { render } from 'ink';
import { createElement } from 'react';
import type { BenchSnapshot } from '../bench.js';
import { describeError, type ErrorInfo } from '../errors.js';
import { exitCodeForResult, type ExecutableCommand, type Result } from '../run.js';
import { App, type AppState } from './app.js';
import { CrashGuard } from './crash-guard.js';

/** Runs the command; calls `onBenchProgress` with live benchmark snapshots. */
export type InkCommandRunner = (onBenchProgress: (snapshot: BenchSnapshot) => void) => Promise<Result>;

/**
 * A terminal: spinner (or live bench view) while running, then the result or
 * the error; resolves to the exit code. Its own module so that plain and JSON
 * runs (scripts, pipes) never load Ink and React, a large part of start-up.
 */
export async function runWithInk(
  command: ExecutableCommand,
  options: { verbose: boolean; stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream },
  run: InkCommandRunner,
): Promise<number> {
  const concurrency = command.kind === 'bench' ? command.concurrency : 0;
  const initial: AppState =
    command.kind === 'bench' ? { phase: 'bench', snapshot: undefined, concurrency } : { phase: 'running', label: `${command.kind}…` };
  let crash: ErrorInfo | undefined;
  const guarded = (state: AppState) => createElement(CrashGuard, { onCrash: (error) => (crash = error) }, createElement(App, { state }));
  const view = render(guarded(initial), {
    stdout: options.stdout as NodeJS.WriteStream,
    stderr: options.stderr as NodeJS.WriteStream,
    patchConsole: false,
  });
  const show = (state: AppState): void => view.rerender(guarded(state));
  let exitCode: number;
  try {
    const result = await run((snapshot) => show({ phase: 'bench', snapshot, concurrency }));
    show({ phase: 'done', result, verbose: options.verbose });
    exitCode = exitCodeForResult(result);
  } catch (error) {
    const info: ErrorInfo = describeError(error);
    show({ phase: 'failed', error: info });
    exitCode = info.exitCode;
  }
  view.unmount();
  await view.waitUntilExit();
  return crash === undefined ? exitCode : crash.exitCode;
}
