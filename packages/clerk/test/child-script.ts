/** Runs an ES module script that imports the clerk in a child Node process, for tests of process lifetime. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The clerk's entry point, for a script's `import { Clerk } from …`. */
export const CLERK_ENTRY = JSON.stringify(fileURLToPath(new URL('../src/index.ts', import.meta.url)));

/** Past this the child is killed: a test waiting for it to exit by itself then fails instead of hanging. */
const CHILD_DEADLINE_MS = 20_000;

/** Runs `script` to its exit; returns the exit code and stdout and stderr together. */
export async function runClerkScript(script: string): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--conditions=@cairn/source', '--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = setTimeout(() => child.kill('SIGKILL'), CHILD_DEADLINE_MS);
  try {
    return { code: await exited, output };
  } finally {
    clearTimeout(deadline);
  }
}
