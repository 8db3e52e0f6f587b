/**
 * `kvctl lock` and `kvctl elect`: the Clerk's Mutex and Election recipes on a
 * session lease (etcd's concurrency package, as `etcdctl lock` / `elect`).
 * Both release on exit (unlock or resign, then revoke the session lease); if
 * kvctl dies instead, the lease expires after its TTL and releases them.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { displayBytes } from '@cairn/linearizability';
import type { ClerkLike } from './clerk-like.js';
import type { LiveCommand } from './coord-commands.js';
import { KvctlError } from './errors.js';
import { EXIT_OK } from './exit-codes.js';

/** What lock and elect need of the Clerk's recipes; injectable for tests. */
export interface RecipeDeps {
  session(clerk: ClerkLike, ttlSeconds: number): Promise<SessionLike>;
  mutex(session: SessionLike, name: string): MutexLike;
  election(session: SessionLike, name: string): ElectionLike;
}

export interface SessionLike {
  readonly signal: AbortSignal;
  close(): Promise<void>;
}

export interface MutexLike {
  lock(options: { signal?: AbortSignal }): Promise<{ readonly key: string; readonly fencingRevision: number }>;
  unlock(): Promise<void>;
}

export interface ElectionLike {
  readonly key: string;
  campaign(value: string, options: { signal?: AbortSignal }): Promise<number>;
  resign(): Promise<void>;
  observe(options: { signal?: AbortSignal }): AsyncIterable<Buffer>;
}

interface RecipeIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly json: boolean;
  readonly signal: AbortSignal;
  readonly recipes?: RecipeDeps;
}

/** Exit code of a command that could not be started (as a shell's "command not found"). */
export const EXIT_COMMAND_NOT_RUN = 127;

export async function runLock(command: Extract<LiveCommand, { kind: 'lock' }>, clerk: ClerkLike, io: RecipeIo): Promise<number> {
  const recipes = io.recipes ?? (await clerkRecipes());
  const session = await recipes.session(clerk, command.ttl);
  try {
    const mutex = recipes.mutex(session, command.name);
    const held = await interruptible(io, () => mutex.lock({ signal: io.signal }));
    if (held === undefined) return EXIT_INTERRUPTED;
    try {
      // With a command its output owns stdout, so the lock line goes to stderr.
      const out = command.command.length > 0 ? io.stderr : io.stdout;
      out.write(
        io.json
          ? `${JSON.stringify({ key: held.key, fencingRevision: held.fencingRevision })}\n`
          : `locked ${held.key} (fencing revision ${held.fencingRevision})\n`,
      );
      if (command.command.length === 0) {
        await untilAborted(io.signal, session.signal);
        return afterHold(session, 'the lock');
      }
      const code = await runWhileHolding(command.command, held, session.signal, io.stderr);
      if (session.signal.aborted) throw lost(session, 'the lock');
      return code;
    } finally {
      await mutex.unlock().catch(() => undefined);
    }
  } finally {
    await session.close().catch(() => undefined);
  }
}

export async function runElect(command: Extract<LiveCommand, { kind: 'elect' }>, clerk: ClerkLike, io: RecipeIo): Promise<number> {
  const recipes = io.recipes ?? (await clerkRecipes());
  const session = await recipes.session(clerk, command.ttl);
  try {
    const election = recipes.election(session, command.name);
    if (command.proposal === undefined) {
      for await (const leader of election.observe({ signal: io.signal })) {
        io.stdout.write(io.json ? `${JSON.stringify({ leader: leader.toString('utf8') })}\n` : `${displayBytes(leader)}\n`);
      }
      return EXIT_OK;
    }
    const revision = await interruptible(io, () => election.campaign(command.proposal!, { signal: io.signal }));
    if (revision === undefined) return EXIT_INTERRUPTED;
    try {
      io.stdout.write(
        io.json
          ? `${JSON.stringify({ elected: true, key: election.key, revision, proposal: command.proposal })}\n`
          : `elected: ${command.proposal} (key ${election.key}, revision ${revision})\n`,
      );
      await untilAborted(io.signal, session.signal);
      return afterHold(session, 'leadership');
    } finally {
      await election.resign().catch(() => undefined);
    }
  } finally {
    await session.close().catch(() => undefined);
  }
}

/** The Clerk's recipes; loaded on use, like the Clerk itself. */
async function clerkRecipes(): Promise<RecipeDeps> {
  const { Session, Mutex, Election } = await import('@cairn/clerk');
  type Clerk = import('@cairn/clerk').Clerk;
  type Session = import('@cairn/clerk').Session;
  return {
    // kvctl's clerk is a Clerk (connect.ts); ClerkLike only narrows what run.ts uses.
    session: async (clerk, ttl) => Session.create(clerk as unknown as Clerk, { ttl }),
    mutex: (session, name) => new Mutex(session as Session, name),
    election: (session, name) => {
      const election = new Election(session as Session, name);
      return {
        key: election.key,
        campaign: (value, options) => election.campaign(value, options),
        resign: () => election.resign(),
        observe: (options) => election.observe(options),
      };
    },
  };
}

/** Exit code after Ctrl-C while still waiting for the lock or leadership (128 + SIGINT, as a shell reports it). */
export const EXIT_INTERRUPTED = 130;

/** The wait's result, or undefined (with a note on stderr) when Ctrl-C ended it first. */
async function interruptible<T>(io: RecipeIo, wait: () => Promise<T>): Promise<T | undefined> {
  try {
    return await wait();
  } catch (error) {
    if (!io.signal.aborted) throw error;
    io.stderr.write('interrupted while waiting; nothing was held\n');
    return undefined;
  }
}

/** Resolves when either signal fires. */
function untilAborted(...signals: AbortSignal[]): Promise<void> {
  if (signals.some((signal) => signal.aborted)) return Promise.resolve();
  return new Promise((resolve) => {
    for (const signal of signals) signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/** Ctrl-C ends a hold with exit 0; a lost session lease is an error. */
function afterHold(session: SessionLike, what: string): number {
  if (session.signal.aborted) throw lost(session, what);
  return EXIT_OK;
}

function lost(session: SessionLike, what: string): KvctlError {
  const reason = session.signal.reason instanceof Error ? session.signal.reason.message : String(session.signal.reason);
  return new KvctlError('SESSION_LOST', `lost ${what}: the session lease ended (${reason})`);
}

/**
 * Runs the command with the lock's key and fencing revision in its environment
 * (CAIRN_LOCK_KEY, CAIRN_LOCK_REVISION) and resolves to its exit code (127 when it
 * cannot be started, as a shell). Ctrl-C
 * reaches it through the terminal's process group; if the session is lost it
 * is sent SIGTERM, since it no longer holds the lock.
 */
function runWhileHolding(
  argv: readonly string[],
  held: { readonly key: string; readonly fencingRevision: number },
  lostSignal: AbortSignal,
  stderr: NodeJS.WritableStream,
): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: 'inherit',
      env: { ...process.env, CAIRN_LOCK_KEY: held.key, CAIRN_LOCK_REVISION: String(held.fencingRevision) },
    });
    const onLost = (): void => {
      child.kill('SIGTERM');
    };
    lostSignal.addEventListener('abort', onLost, { once: true });
    child.once('error', (error) => {
      lostSignal.removeEventListener('abort', onLost);
      stderr.write(`error: IO: cannot run ${argv[0]}: ${error.message}\n`);
      resolve(EXIT_COMMAND_NOT_RUN);
    });
    child.once('exit', (code, signal) => {
      lostSignal.removeEventListener('abort', onLost);
      resolve(code ?? 128 + (signal === null ? 0 : (constants.signals[signal] ?? 0)));
    });
  });
}
