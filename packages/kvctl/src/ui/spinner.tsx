/** @jsxRuntime automatic */
/** @jsxImportSource react */
// The pragmas keep JSX compiling when tsx runs with another tsconfig (e.g. from the repo root).
import { Text } from 'ink';
import { useEffect, useState } from 'react';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const FRAME_INTERVAL_MS = 80;

/** A spinner with a label; the only state it keeps is its own frame. */
export function Spinner({ label }: { readonly label: string }) {
  const [frame, setFrame] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => setFrame((current) => (current + 1) % FRAMES.length), FRAME_INTERVAL_MS);
    return () => clearInterval(timer);
  }, []);
  return (
    <Text>
      <Text color="cyan">{FRAMES[frame]}</Text> {label}
    </Text>
  );
}
