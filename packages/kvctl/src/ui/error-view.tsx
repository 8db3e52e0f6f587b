/** @jsxRuntime automatic */
/** @jsxImportSource react */
// The pragmas keep JSX compiling when tsx runs with another tsconfig (e.g. from the repo root).
import { Box, Text } from 'ink';
import type { ErrorInfo } from '../errors.js';
import { hintForErrorCode } from '../errors.js';

/** An error as its code, one line of message and one line of hint; never a stack trace. */
export function ErrorView({ error }: { readonly error: ErrorInfo }) {
  const hint = hintForErrorCode(error.code);
  return (
    <Box flexDirection="column">
      <Text>
        <Text color="red" bold>
          error: {error.code}
        </Text>
        : {error.message}
      </Text>
      {hint === undefined ? null : <Text dimColor>hint: {hint}</Text>}
    </Box>
  );
}
