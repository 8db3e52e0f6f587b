/** @jsxRuntime automatic */
/** @jsxImportSource react */
// The pragmas keep JSX compiling when tsx runs with another tsconfig (e.g. from the repo root).
import { Box, Text } from 'ink';
import type { TextTable } from '../format.js';

export interface TableViewProps {
  readonly table: TextTable;
  /** Colour for a cell, e.g. red health; undefined = default. */
  readonly cellColor?: (row: readonly string[], column: number) => string | undefined;
}

/** A table with a bold header row and columns as wide as their widest cell. */
export function TableView({ table, cellColor }: TableViewProps) {
  const all = [table.headers, ...table.rows];
  const widths = table.headers.map((_header, column) => Math.max(...all.map((row) => (row[column] ?? '').length)) + 2);
  return (
    <Box flexDirection="column">
      <Box>
        {table.headers.map((header, column) => (
          <Box key={column} width={widths[column]}>
            <Text bold>{header}</Text>
          </Box>
        ))}
      </Box>
      {table.rows.map((row, rowIndex) => (
        <Box key={rowIndex}>
          {row.map((cell, column) => (
            <Box key={column} width={widths[column]}>
              <Text color={cellColor?.(row, column)}>{cell}</Text>
            </Box>
          ))}
        </Box>
      ))}
    </Box>
  );
}
