/**
 * Why a node refused to start, as one class per kind with a stable `code`.
 * The binary prints `cairn-server: error: CODE: message` and exits (main.ts);
 * launchers and scripts branch on the code, never on the message. Refusals
 * found in the data dir (CLUSTER_MISMATCH, DATA_DIR_LOCKED, CORRUPTION, ...)
 * are KvErrors (errors.ts), decided from LevelDB's and Node's error codes
 * (storage/storage-errors.ts).
 */
import { KvError, type KvErrorCode } from './errors.js';
import { describeStorageError } from './storage/storage-errors.js';

export type StartupErrorCode = 'CONFIG_INVALID' | 'ADDRESS_IN_USE' | 'LISTEN_FAILED';

/** Base class of the refusals to start that are not about the data dir. Branch on `code`. */
export class StartupError extends Error {
  constructor(
    readonly code: StartupErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * A flag or the --config file is wrong (unknown, malformed, out of range, or
 * contradicting another). Thrown by config.ts; the message names the flag.
 * Fix it (see --help); the binary exits with status 2.
 */
export class ConfigError extends StartupError {
  constructor(message: string) {
    super('CONFIG_INVALID', message);
  }
}

/** Another process listens on the port of `flag` (EADDRINUSE). Stop it or choose another port. */
export class AddressInUseError extends StartupError {
  constructor(
    readonly flag: string,
    readonly address: string,
    options?: ErrorOptions,
  ) {
    super('ADDRESS_IN_USE', `${flag} ${address}: the port is already in use`, options);
  }
}

/** Listening on `flag`'s address failed otherwise (e.g. EACCES, EADDRNOTAVAIL). The message names the errno. */
export class ListenFailedError extends StartupError {
  constructor(
    readonly flag: string,
    readonly address: string,
    error: NodeJS.ErrnoException,
  ) {
    super('LISTEN_FAILED', `${flag} ${address}: cannot listen (${error.code ?? error.message})`, { cause: error });
  }
}

/** The typed error for a failed listen on `flag`'s `address`, decided by its errno code. */
export function listenError(flag: string, address: string, error: NodeJS.ErrnoException): StartupError {
  if (error.code === 'EADDRINUSE') return new AddressInUseError(flag, address, { cause: error });
  return new ListenFailedError(flag, address, error);
}

/** Every code a failed start is reported with. */
export type StartupFailureCode = StartupErrorCode | KvErrorCode;

/**
 * The one line the binary prints for a failed start: a stable code and a
 * message naming what is wrong and what to do. Decided by the error's class,
 * and for storage failures by LevelDB's error codes (storage-errors.ts); any
 * other error is INTERNAL with its first line only (never a stack trace).
 */
export function describeStartupError(error: unknown): { code: StartupFailureCode; message: string } {
  if (error instanceof StartupError) return { code: error.code, message: error.message };
  if (error instanceof KvError) return { code: error.code, message: error.message };
  const storage = describeStorageError(error);
  if (storage !== undefined) return { code: storage.code, message: storage.message };
  const err = error as { message?: unknown } | undefined;
  return { code: 'INTERNAL', message: String(err?.message ?? error).split('\n')[0] ?? 'unknown error' };
}
