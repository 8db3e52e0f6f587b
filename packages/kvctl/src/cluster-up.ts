import type { GlobalOptions } from './commands.js';
import type { CliIo } from './cli.js';
import { NotImplementedError } from './errors.js';

/** Starts a local cluster; filled in below. */
export async function runClusterUp(_command: unknown, _global: GlobalOptions, _io: CliIo): Promise<number> {
  throw new NotImplementedError('cluster up is not built yet');
}
