import type { ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';

/** Node flags every Cairn server process runs with (node-flags.json; why each, in launch.js). */
export declare const SERVER_NODE_FLAGS: readonly string[];
/** What the server prints on stdout once it serves, after its signal handlers are in place. */
export declare const SERVING_MARK: string;

export type LaunchErrorCode = 'NO_ENTRY' | 'EXITED' | 'SPAWN_FAILED';

/** Why a launch failed before the node served. */
export declare class LaunchError extends Error {
  readonly code: LaunchErrorCode;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** `source`: the TypeScript sources through tsx; `dist`: the build (`npm run build`). */
export type ServerFrom = 'source' | 'dist';

export interface ServerFromInputs {
  /** What was asked for (CAIRN_FROM_DIST=1: 'dist', =0: 'source'), if anything. */
  readonly requested: ServerFrom | undefined;
  /** The launcher itself resolves with the `@cairn/source` condition (the repo's tests and tsx-run tools). */
  readonly sourceCondition: boolean;
  /** dist/main.js exists. */
  readonly built: boolean;
  /** The build was made from other sources than those beside it (or cannot tell). */
  readonly stale: boolean;
  /** src/main.ts exists and tsx is installed. */
  readonly sources: boolean;
}

/**
 * Where the server runs from: what was requested; else the sources under the
 * `@cairn/source` condition; else the build unless stale; else the sources,
 * with a warning when a stale build was passed over. Throws a NO_ENTRY
 * LaunchError when the chosen entry cannot run.
 */
export declare function chooseServerFrom(inputs: ServerFromInputs): { from: ServerFrom; warning?: string | undefined };

/** Node arguments that run the server's main module. @default from: 'dist' when CAIRN_FROM_DIST=1, 'source' when 0, else chooseServerFrom's rule */
export declare function serverEntry(from?: ServerFrom): string[];

/** A digest of the server's sources and its workspace dependencies' (every file under each src/). */
export declare function sourcesDigest(): string;
/** Records sourcesDigest() in dist/ (the `build` script runs it after tsc). */
export declare function writeBuildStamp(): void;

export interface ServerCommandOptions {
  /** cairn-server's own flags. */
  readonly args: readonly string[];
  /** More Node flags, after the server's defaults so they win (e.g. `--cpu-prof`). */
  readonly nodeFlags?: readonly string[] | undefined;
  readonly from?: ServerFrom | undefined;
}

/** The command that runs the server: `node <SERVER_NODE_FLAGS> <nodeFlags> <entry> <args>`. */
export declare function serverCommandLine(options: ServerCommandOptions): { command: string; args: string[] };

export interface NodeIdentity {
  readonly id: number;
  /** Peer and client gRPC address (`--addr`). */
  readonly address: string;
  /** HTTP address (`--client-addr`); none when left out. */
  readonly clientAddress?: string | undefined;
  readonly dataDir: string;
  /** Every member, this node included, as `--peer id=address`. */
  readonly peers?: readonly { readonly id: number; readonly address: string }[] | undefined;
}

/** A node's identity flags: `--id --addr [--client-addr] --data-dir --peer…`. */
export declare function identityFlags(node: NodeIdentity): string[];

export interface LaunchOptions extends NodeIdentity {
  /** More cairn-server flags, after the identity flags. */
  readonly args?: readonly string[] | undefined;
  readonly nodeFlags?: readonly string[] | undefined;
  readonly from?: ServerFrom | undefined;
  /** A command the server runs under, e.g. `['ip', 'netns', 'exec', 'ns1']`. */
  readonly wrapper?: readonly string[] | undefined;
  readonly cwd?: string | undefined;
  readonly env?: NodeJS.ProcessEnv | undefined;
  /** Its own process group, so a terminal's Ctrl-C reaches only the launcher. @default false */
  readonly detached?: boolean | undefined;
  /** An IPC channel: the server stops when the launcher dies, even by SIGKILL. @default false */
  readonly ipc?: boolean | undefined;
}

export interface LaunchedNode {
  readonly id: number;
  readonly address: string;
  readonly clientAddress: string | undefined;
  readonly dataDir: string;
  /** stdout and stderr are piped: read them (or the child may block on a full pipe). */
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  /** Resolves when the node prints SERVING_MARK; rejects with a LaunchError if it exits or fails to spawn first. No deadline. */
  readonly serving: Promise<void>;
}

/** Spawns one `cairn-server` node. */
export declare function launchNode(options: LaunchOptions): LaunchedNode;
