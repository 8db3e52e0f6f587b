/** A parsed `kvctl txn` (txn-parse.ts) as the clerk's txn, built with its compare.* and op.* builders. */
import type { TxnCompareInput, TxnInput, TxnOpInput } from './txn-parse.js';

type ClerkModule = typeof import('@cairn/clerk');
type TxnSpec = import('@cairn/clerk').TxnSpec;

/** Loaded on use: help and usage errors need no gRPC stack. */
export async function clerkTxnSpec(input: TxnInput): Promise<TxnSpec> {
  const clerk = await import('@cairn/clerk');
  return {
    if: input.compare.map((c) => clerkCompare(clerk, c)),
    then: input.success.map((o) => clerkOp(clerk, o)),
    else: input.failure.map((o) => clerkOp(clerk, o)),
  };
}

function clerkCompare({ compare }: ClerkModule, c: TxnCompareInput): ReturnType<ClerkModule['compare']['value']> {
  const n = Number(c.operand);
  switch (c.target) {
    case 'value':
      return compare.value(c.key, c.op, String(c.operand));
    case 'version':
      return compare.version(c.key, c.op, n);
    case 'create':
      return compare.createRevision(c.key, c.op, n);
    case 'mod':
      return compare.modRevision(c.key, c.op, n);
    case 'lease':
      return compare.lease(c.key, c.op, n);
  }
}

function clerkOp({ op }: ClerkModule, o: TxnOpInput): ReturnType<ClerkModule['op']['get']> {
  switch (o.op) {
    case 'put':
      return op.put(o.key, o.value, o.lease === undefined ? {} : { lease: o.lease });
    case 'get':
      return op.get(o.key);
    case 'range':
      return op.range(o.prefix);
    case 'delete':
      return op.delete(o.key, { prefix: o.prefix });
  }
}
