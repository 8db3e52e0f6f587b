/**
 * Shared by the real-fault tests: run a body against a FaultCluster that is
 * always torn down, skip with the reason when this machine cannot host one,
 * the scenario's timing constants, and reading back acknowledged keys.
 */
import type { TestContext } from 'node:test';
import { Clerk } from '@cairn/clerk';
import { FaultCluster, unsupportedReason, type FaultClusterOptions } from '@cairn/testkit';

/** The server's defaults (--tick-ms 100, --election-ticks 10): the tests run nodes with default flags, as the reproductions did. */
export const ELECTION_TIMEOUT_MS = 1_000;
/** Scheduling slack on a loaded 2-core CI machine running nodes from TypeScript sources. */
export const SLACK_MS = 3_000;

let support: Promise<string | undefined> | undefined;

/** Runs `body` on a fresh cluster; skips (with why) when not root or ip/nft are missing. */
export async function withFaultCluster(
  t: TestContext,
  options: FaultClusterOptions,
  body: (cluster: FaultCluster) => Promise<void>,
): Promise<void> {
  support ??= unsupportedReason();
  const reason = await support;
  if (reason !== undefined) {
    t.skip(reason);
    return;
  }
  const cluster = await FaultCluster.start(options);
  try {
    await body(cluster);
  } catch (error) {
    // The nodes' last words usually say why; CAIRN_TEST_LOGS=dir keeps whole logs.
    for (const line of cluster.describe().split('\n')) t.diagnostic(line);
    throw error;
  } finally {
    await cluster.stop();
  }
}

/**
 * Keeps a fault in force for `ms`. A fault's duration is part of the
 * scenario (a 6 s partition), not a way to wait for something to happen.
 */
export function holdFault(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The ids of the nodes other than `id`. */
export function othersThan(cluster: FaultCluster, ...ids: number[]): number[] {
  return cluster.nodes.map((n) => n.id).filter((id) => !ids.includes(id));
}

/**
 * Reads every key at once through one clerk; each read ends as its value,
 * 'not-found', or `error <CODE>`. A read that fails is not a wrong read:
 * nodes that cannot know the answer may rightly refuse to give one.
 */
export async function readKeys(endpoints: readonly string[], keys: readonly string[], deadlineMs: number): Promise<string[]> {
  const clerk = Clerk.lazy({ endpoints: [...endpoints], deadlineMs, requestTimeoutMs: 1_000 });
  try {
    return await Promise.all(
      keys.map(async (key) => {
        try {
          const kv = await clerk.get(key);
          return kv === undefined ? 'not-found' : kv.value.toString();
        } catch (error) {
          return `error ${(error as { code?: string }).code ?? String(error)}`;
        }
      }),
    );
  } finally {
    clerk.close();
  }
}

/** The reads that are neither the acknowledged value nor an error: lost or stale (`key: what was read`). */
export function wrongReads(keys: readonly string[], values: readonly string[], reads: readonly string[]): string[] {
  return reads.flatMap((read, i) => (read === values[i] || read.startsWith('error ') ? [] : [`${keys[i]}: ${read}`]));
}

/** How many reads ended how, e.g. `value 12, not-found 38`. */
export function summarizeReads(reads: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const read of reads) {
    const kind = read === 'not-found' || read.startsWith('error ') ? read : 'value';
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  return [...counts].map(([kind, n]) => `${kind} ${n}`).join(', ');
}
