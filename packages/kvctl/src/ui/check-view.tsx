/** @jsxRuntime automatic */
/** @jsxImportSource react */
// The pragmas keep JSX compiling when tsx runs with another tsconfig (e.g. from the repo root).
import { Text } from 'ink';
import { checkResultText, type CheckResult } from '@cairn/linearizability';

const VERDICT_COLOR = { linearizable: 'green', 'not-linearizable': 'red', unknown: 'yellow' } as const;

/** `kvctl check` in a terminal: the plain report, with the verdict line coloured. */
export function CheckView({ result, verbose }: { readonly result: CheckResult; readonly verbose: boolean }) {
  const [verdictLine, ...rest] = checkResultText(result, { verbose }).trimEnd().split('\n');
  return (
    <Text>
      <Text color={VERDICT_COLOR[result.verdict]} bold>
        {verdictLine}
      </Text>
      {rest.length > 0 ? `\n${rest.join('\n')}` : ''}
    </Text>
  );
}
