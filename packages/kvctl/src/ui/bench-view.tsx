/** @jsxRuntime automatic */
/** @jsxImportSource react */
// The pragmas keep JSX compiling when tsx runs with another tsconfig (e.g. from the repo root).
import { Box, Text } from 'ink';
import type { BenchSnapshot } from '../bench.js';
import { errorsByCodeLine, formatMs } from '../format.js';

export interface BenchViewProps {
  /** Undefined until the first progress snapshot arrives. */
  readonly snapshot: BenchSnapshot | undefined;
  /** Shown in the heading when known. */
  readonly concurrency?: number | undefined;
}

/** Live view of a running benchmark, and its summary once `snapshot.done`. */
export function BenchView({ snapshot, concurrency }: BenchViewProps) {
  if (snapshot === undefined) return <Text>bench: starting…</Text>;
  const { p50, p90, p99, max } = snapshot.latencyMs;
  const errors = errorsByCodeLine(snapshot.errorsByCode);
  return (
    <Box flexDirection="column">
      <Text bold>
        {snapshot.done ? 'bench: done' : 'bench: running'} ({concurrency === undefined ? '' : `${concurrency} workers, `}
        {(snapshot.elapsedMs / 1000).toFixed(1)}s)
      </Text>
      <Text>
        ops/s <Text color="green">{(snapshot.done ? snapshot.opsPerSec : snapshot.recentOpsPerSec).toFixed(0)}</Text>
        {'  '}ops {snapshot.ops} ({snapshot.reads} reads, {snapshot.writes} writes)
      </Text>
      <Text>
        p50 {formatMs(p50)} p90 {formatMs(p90)} p99 {formatMs(p99)} max {formatMs(max)}
      </Text>
      <Text color={snapshot.errors > 0 ? 'red' : undefined}>
        errors {snapshot.errors}
        {errors === '' ? '' : ` (${errors})`}
      </Text>
    </Box>
  );
}
