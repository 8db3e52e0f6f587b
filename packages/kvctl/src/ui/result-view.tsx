/** @jsxRuntime automatic */
/** @jsxImportSource react */
// The pragmas keep JSX compiling when tsx runs with another tsconfig (e.g. from the repo root).
import { Box, Text } from 'ink';
import { describeSimpleResult, displayBytes, membersTable, statusTable } from '../format.js';
import type { Result } from '../run.js';
import { verboseKeyValue } from '../output/plain.js';
import { CheckView } from './check-view.js';
import { BenchView } from './bench-view.js';
import { TableView } from './table-view.js';

export interface ResultViewProps {
  readonly result: Result;
  readonly verbose: boolean;
}

const HEALTH_COLUMN = 7;

/** Renders any command result for a terminal. */
export function ResultView({ result, verbose }: ResultViewProps) {
  switch (result.kind) {
    case 'get':
      if (result.kv === undefined) return <Text color="yellow">not found: {result.key}</Text>;
      return (
        <Box flexDirection="column">
          <Text>{displayBytes(result.kv.value)}</Text>
          {verbose ? <Text dimColor>{verboseKeyValue(result.kv)}</Text> : null}
        </Box>
      );
    case 'range':
      return <RangeView result={result} />;
    case 'status':
      return (
        <TableView
          table={statusTable(result.rows)}
          cellColor={(row, column) => (column === HEALTH_COLUMN ? (row[column] === 'ok' ? 'green' : 'red') : undefined)}
        />
      );
    case 'members':
      return <TableView table={membersTable(result.members, result.leaderId)} />;
    case 'bench':
      return <BenchView snapshot={result.summary} />;
    case 'check':
      if (result.report.result !== undefined) return <CheckView result={result.report.result} verbose={verbose} />;
      return <Text>{describeSimpleResult(result) ?? result.kind}</Text>;
    default: {
      const failed =
        (result.kind === 'cas' && !result.succeeded) ||
        (result.kind === 'delete' && !result.deleted) ||
        (result.kind === 'txn' && !result.succeeded);
      return <Text color={failed ? 'yellow' : 'green'}>{describeSimpleResult(result) ?? result.kind}</Text>;
    }
  }
}

function RangeView({ result }: { readonly result: Extract<Result, { kind: 'range' }> }) {
  if (result.kvs.length === 0) return <Text dimColor>no keys with prefix {result.prefix}</Text>;
  const last = result.kvs.at(-1)!;
  return (
    <Box flexDirection="column">
      {result.kvs.map((kv, index) => (
        <Text key={index}>
          <Text bold>{displayBytes(kv.key)}</Text>
          {result.keysOnly ? '' : `  ${displayBytes(kv.value)}`}
        </Text>
      ))}
      {result.more ? <Text dimColor>more keys follow; continue with --start-after '{displayBytes(last.key)}'</Text> : null}
    </Box>
  );
}
