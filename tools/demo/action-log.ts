/**
 * The demo's console: one line per action, prefixed with the seconds since
 * the demo started (`[12.3s] transfer-leader 2→4 ok 85 ms`).
 */
import { isAbsolute, relative } from 'node:path';

export interface DemoOutput {
  line(text: string): void;
}

export const CONSOLE_OUTPUT: DemoOutput = { line: (text) => process.stdout.write(`${text}\n`) };

export class ActionLog {
  private readonly startedAt = performance.now();

  constructor(private readonly output: DemoOutput) {}

  elapsedS(): number {
    return (performance.now() - this.startedAt) / 1000;
  }

  /** A plain line with the elapsed-time prefix. */
  note(text: string): void {
    this.output.line(`[${this.elapsedS().toFixed(1)}s] ${text}`);
  }

  /** Times `run` and logs `name detail ok|failed (CODE) N ms`; never throws. */
  async timed<T>(name: string, detail: string, run: () => Promise<T>, describeResult?: (value: T) => string): Promise<T | undefined> {
    const started = performance.now();
    try {
      const value = await run();
      const suffix = describeResult === undefined ? '' : ` ${describeResult(value)}`;
      this.note(`${name}${detail === '' ? '' : ` ${detail}`} ok${suffix} ${formatMs(performance.now() - started)}`);
      return value;
    } catch (error) {
      this.note(`${name}${detail === '' ? '' : ` ${detail}`} failed (${errorCode(error)}) ${formatMs(performance.now() - started)}`);
      return undefined;
    }
  }
}

export function formatMs(ms: number): string {
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

/** The stable code of a clerk or demo error; the class name otherwise. Never a stack. */
export function errorCode(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    if (error instanceof Error) return error.name;
  }
  return String(error);
}

/** A path as typed by people: relative to the working directory when inside it, else absolute. */
export function displayPath(path: string): string {
  const relativePath = relative(process.cwd(), path);
  return relativePath === '' ? '.' : relativePath.startsWith('..') || isAbsolute(relativePath) ? path : relativePath;
}
