/**
 * Commands that run until stopped: watch and lease keep-alive here, lock and
 * elect in live-recipes.ts. They print one line per event as it happens (JSON
 * lines with --output json) and end cleanly, exit 0, when `signal` fires
 * (Ctrl-C): no Ink, since the output is a stream, not one result.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { assertNever } from '@cairn/proto';
import type { ClerkLike } from './clerk-like.js';
import type { LiveCommand } from './coord-commands.js';
import { watchEventJson, watchEventLine } from './format-coord.js';
import { EXIT_OK } from './exit-codes.js';
import { runElect, runLock, type RecipeDeps } from './live-recipes.js';
import { need } from './run-coord.js';

export interface LiveIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly json: boolean;
  /** Fires on Ctrl-C: the command stops and cleans up. */
  readonly signal: AbortSignal;
  /** @default the recipes of @cairn/clerk (Session, Mutex, Election) */
  readonly recipes?: RecipeDeps;
}

/** Runs a live command to its end; resolves to the exit code. Errors propagate (ClerkError etc.). */
export async function runLive(command: LiveCommand, clerk: ClerkLike, io: LiveIo): Promise<number> {
  switch (command.kind) {
    case 'watch':
      return runWatch(command, clerk, io);
    case 'lease-keep-alive':
      return runKeepAlive(command, clerk, io);
    case 'lock':
      return runLock(command, clerk, io);
    case 'elect':
      return runElect(command, clerk, io);
    default:
      return assertNever(command, 'unhandled live command');
  }
}

async function runWatch(command: Extract<LiveCommand, { kind: 'watch' }>, clerk: ClerkLike, io: LiveIo): Promise<number> {
  const events = need(clerk, 'watch')(command.key, {
    prefix: command.prefix,
    prevKv: command.prevKv,
    signal: io.signal,
    ...(command.revision === undefined ? {} : { fromRevision: command.revision }),
  });
  for await (const event of events) {
    io.stdout.write(io.json ? `${JSON.stringify(watchEventJson(event))}\n` : `${watchEventLine(event, command.prevKv)}\n`);
  }
  return EXIT_OK;
}

async function runKeepAlive(command: Extract<LiveCommand, { kind: 'lease-keep-alive' }>, clerk: ClerkLike, io: LiveIo): Promise<number> {
  const keepAlive = need(clerk, 'keepAliveOnce');
  while (!io.signal.aborted) {
    const { ttl } = await keepAlive(command.id);
    io.stdout.write(io.json ? `${JSON.stringify({ id: command.id, ttl })}\n` : `lease ${command.id} keepalived with TTL ${ttl}s\n`);
    if (command.once) break;
    // A third of the TTL, as the Clerk's own keeper renews.
    await delay(Math.max(500, (ttl * 1000) / 3), undefined, { signal: io.signal }).catch(() => undefined);
  }
  return EXIT_OK;
}
