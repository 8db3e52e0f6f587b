/** @jsxRuntime automatic */
/** @jsxImportSource react */
// The pragmas keep JSX compiling when tsx runs with another tsconfig (e.g. from the repo root).
import type { BenchSnapshot } from '../bench.js';
import type { ErrorInfo } from '../errors.js';
import type { Result } from '../run.js';
import { BenchView } from './bench-view.js';
import { ErrorView } from './error-view.js';
import { ResultView } from './result-view.js';
import { Spinner } from './spinner.js';

/** Where a command is: the CLI re-renders App with the next state as it changes. */
export type AppState =
  | { readonly phase: 'running'; readonly label: string }
  | { readonly phase: 'bench'; readonly snapshot: BenchSnapshot | undefined; readonly concurrency: number }
  | { readonly phase: 'done'; readonly result: Result; readonly verbose: boolean }
  | { readonly phase: 'failed'; readonly error: ErrorInfo };

/** The top-level view: spinner while running, then the result or the error. */
export function App({ state }: { readonly state: AppState }) {
  switch (state.phase) {
    case 'running':
      return <Spinner label={state.label} />;
    case 'bench':
      return <BenchView snapshot={state.snapshot} concurrency={state.concurrency} />;
    case 'done':
      return <ResultView result={state.result} verbose={state.verbose} />;
    case 'failed':
      return <ErrorView error={state.error} />;
  }
}
