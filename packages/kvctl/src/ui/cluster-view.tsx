/** @jsxRuntime automatic */
/** @jsxImportSource react */
// The pragmas keep JSX compiling when tsx runs with another tsconfig (e.g. from the repo root).
import { Box, Text } from 'ink';
import type { BenchSnapshot } from '../bench.js';
import { LEADER_MARK, benchLine, type TextTable } from '../format.js';
import type { MemberStatusRow } from '../run.js';
import { TableView } from './table-view.js';

/** A supervised node process: pid and 'running' or how it exited. */
export interface NodeProcessState {
  readonly id: number;
  readonly pid: number | undefined;
  readonly state: string;
}

export interface ClusterViewProps {
  readonly dataDir: string;
  readonly processes: readonly NodeProcessState[];
  /** Undefined until the first status poll completes. */
  readonly rows: readonly MemberStatusRow[] | undefined;
  readonly bench: BenchSnapshot | undefined;
  readonly stopping: boolean;
  readonly stopped: boolean;
}

/** Process state and raft status side by side, one row per node. */
export function clusterTable(processes: readonly NodeProcessState[], rows: readonly MemberStatusRow[] | undefined): TextTable {
  return {
    headers: ['ID', 'ADDRESS', 'PID', 'PROCESS', 'ROLE', 'TERM', 'COMMIT', 'APPLIED', 'LAG', 'HEALTH'],
    rows: processes.map((process) => {
      const row = rows?.find((candidate) => candidate.id === process.id);
      const optional = (value: number | string | undefined) => (value === undefined ? '-' : String(value));
      return [
        `${row?.isLeader === true ? LEADER_MARK : ' '}${process.id}`,
        row?.clientAddress ?? '-',
        optional(process.pid),
        process.state,
        optional(row?.role),
        optional(row?.term),
        optional(row?.commitIndex),
        optional(row?.appliedIndex),
        optional(row?.lag),
        row?.health ?? 'starting',
      ];
    }),
  };
}

const HEALTH_COLUMN = 9;

/** The live `kvctl cluster up` screen. */
export function ClusterView(props: ClusterViewProps) {
  const footer = props.stopped ? 'all nodes stopped' : props.stopping ? 'stopping nodes…' : 'Ctrl-C stops every node';
  return (
    <Box flexDirection="column">
      <Text bold>
        cairn cluster: {props.processes.length} nodes <Text dimColor>(data and logs in {props.dataDir})</Text>
      </Text>
      <TableView
        table={clusterTable(props.processes, props.rows)}
        cellColor={(row, column) => (column === HEALTH_COLUMN ? (row[column] === 'ok' ? 'green' : 'yellow') : undefined)}
      />
      {props.bench === undefined ? null : <Text>demo load: {benchLine(props.bench)}</Text>}
      <Text dimColor>{footer}</Text>
    </Box>
  );
}
