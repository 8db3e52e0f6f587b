import type { ClerkConnector } from './connect.js';

/** The process's streams and environment, injected so the CLI can be driven in-process. */
export interface CliIo {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stdin: NodeJS.ReadableStream;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** @default connectClerk (@cairn/clerk) */
  readonly connect?: ClerkConnector;
}
