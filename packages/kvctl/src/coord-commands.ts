/**
 * The coordination commands (issue 20): txn, lease, watch, lock, elect,
 * compact. Their Command shapes and their commander definitions; the key-value
 * and cluster commands are in commands.ts.
 */
import type { Command as CommanderCommand } from 'commander';
import { parseLeaseId, parsePositiveInteger } from './arg-parsers.js';
import { TXN_HELP } from './txn-parse.js';

/** Commands that end with one result (execute() in run.ts). */
export type CoordCommand =
  | { readonly kind: 'txn' }
  | { readonly kind: 'compact'; readonly revision: number }
  | { readonly kind: 'lease-grant'; readonly ttl: number }
  | { readonly kind: 'lease-revoke'; readonly id: number }
  | { readonly kind: 'lease-ttl'; readonly id: number; readonly keys: boolean }
  | { readonly kind: 'lease-list' };

/** Commands that run until stopped (Ctrl-C), printing as they go (live.ts). */
export type LiveCommand =
  | {
      readonly kind: 'watch';
      readonly key: string;
      readonly prefix: boolean;
      readonly revision: number | undefined;
      readonly prevKv: boolean;
    }
  | { readonly kind: 'lease-keep-alive'; readonly id: number; readonly once: boolean }
  | { readonly kind: 'lock'; readonly name: string; readonly ttl: number; readonly command: readonly string[] }
  | { readonly kind: 'elect'; readonly name: string; readonly ttl: number; readonly proposal: string | undefined };

export const LIVE_KINDS: ReadonlySet<string> = new Set<LiveCommand['kind']>(['watch', 'lease-keep-alive', 'lock', 'elect']);

export function isLiveCommand(command: { readonly kind: string }): command is LiveCommand {
  return LIVE_KINDS.has(command.kind);
}

/** The TTL of the session lease behind lock and elect: its keys vanish this long after kvctl dies. */
export const DEFAULT_SESSION_TTL_S = 60;

type On = (build: (args: string[], options: Record<string, unknown>) => CoordCommand | LiveCommand) => (...args: unknown[]) => void;

export function addCoordinationCommands(program: CommanderCommand, on: On): void {
  program
    .command('txn')
    .description('run a transaction read from stdin (JSON or etcdctl-like text; see `kvctl txn --help`)')
    .addHelpText('after', TXN_HELP)
    .action(on(() => ({ kind: 'txn' })));
  program
    .command('watch')
    .description('print each change of a key (or prefix) as it happens, until Ctrl-C')
    .argument('<key>')
    .option('--prefix', 'watch every key starting with <key>')
    .option('--rev <n>', 'replay changes from this revision first (still in the retained history)', parsePositiveInteger)
    .option('--prev-kv', 'also print the value before each change')
    .action(
      on(([key], options) => ({
        kind: 'watch',
        key: key!,
        prefix: options['prefix'] === true,
        revision: options['rev'] as number | undefined,
        prevKv: options['prevKv'] === true,
      })),
    );
  addLeaseCommands(program, on);
  program
    .command('lock')
    .description('hold a lock (fair, fenced): run the command while holding it, or hold until Ctrl-C')
    .argument('<name>')
    .argument('[command...]', 'run this while holding the lock (put it after --); kvctl exits with its exit code')
    .option(
      '--ttl <s>',
      'TTL of the session lease: the lock is released this long after kvctl dies',
      parsePositiveInteger,
      DEFAULT_SESSION_TTL_S,
    )
    .action(on(([name, ...command], options) => ({ kind: 'lock', name: name!, ttl: options['ttl'] as number, command: command.flat() })));
  program
    .command('elect')
    .description('campaign with <proposal> and lead until Ctrl-C; without a proposal, print each leader')
    .argument('<name>')
    .argument('[proposal]')
    .option(
      '--ttl <s>',
      'TTL of the session lease: leadership ends this long after kvctl dies',
      parsePositiveInteger,
      DEFAULT_SESSION_TTL_S,
    )
    .action(on(([name, proposal], options) => ({ kind: 'elect', name: name!, ttl: options['ttl'] as number, proposal })));
  program
    .command('compact')
    .description('discard the history below a revision (older reads and watches then fail with COMPACTED)')
    .argument('<rev>', 'revision', parsePositiveInteger)
    .action(on((args) => ({ kind: 'compact', revision: args[0] as unknown as number })));
}

function addLeaseCommands(program: CommanderCommand, on: On): void {
  const lease = program.command('lease').description('grant, revoke, keep alive and inspect leases');
  lease
    .command('grant')
    .description('grant a lease; prints its id (attach keys with `put --lease ID`)')
    .argument('<ttl>', 'seconds', parsePositiveInteger)
    .action(on((args) => ({ kind: 'lease-grant', ttl: args[0] as unknown as number })));
  lease
    .command('revoke')
    .description('revoke a lease, deleting every key attached to it')
    .argument('<id>', 'lease id', parseLeaseId)
    .action(on((args) => ({ kind: 'lease-revoke', id: args[0] as unknown as number })));
  lease
    .command('keep-alive')
    .description('keep a lease alive until Ctrl-C, printing each renewal')
    .argument('<id>', 'lease id', parseLeaseId)
    .option('--once', 'renew once and exit')
    .action(on((args, options) => ({ kind: 'lease-keep-alive', id: args[0] as unknown as number, once: options['once'] === true })));
  lease
    .command('list')
    .description('list the live leases')
    .action(on(() => ({ kind: 'lease-list' })));
  lease
    .command('ttl')
    .description("a lease's remaining and granted TTL")
    .argument('<id>', 'lease id', parseLeaseId)
    .option('--keys', 'also list the attached keys')
    .action(on((args, options) => ({ kind: 'lease-ttl', id: args[0] as unknown as number, keys: options['keys'] === true })));
}
