/** @jsxRuntime automatic */
/** @jsxImportSource react */
// The pragmas keep JSX compiling when tsx runs with another tsconfig (e.g. from the repo root).
import { Component, type ReactNode } from 'react';
import { describeError, type ErrorInfo } from '../errors.js';
import { ErrorView } from './error-view.js';

export interface CrashGuardProps {
  readonly children?: ReactNode;
  /** Told once when a view throws, so the CLI can exit with INTERNAL. */
  readonly onCrash: (error: ErrorInfo) => void;
}

/**
 * Catches a rendering bug before Ink's own boundary would print a stack trace,
 * and shows it like any other error: code and one line.
 */
export class CrashGuard extends Component<CrashGuardProps, { error: ErrorInfo | undefined }> {
  override state: { error: ErrorInfo | undefined } = { error: undefined };

  static getDerivedStateFromError(error: unknown): { error: ErrorInfo } {
    return { error: { ...describeError(error), code: 'INTERNAL', exitCode: 10 } };
  }

  override componentDidCatch(error: unknown): void {
    this.props.onCrash({ ...describeError(error), code: 'INTERNAL', exitCode: 10 });
  }

  override render(): ReactNode {
    return this.state.error === undefined ? this.props.children : <ErrorView error={this.state.error} />;
  }
}
