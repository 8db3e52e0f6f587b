/** Waits for a condition with a deadline: the only way tests synchronise (no sleeps). */
export async function waitFor<T>(
  condition: () => T | undefined | false | Promise<T | undefined | false>,
  { deadlineMs = 30_000, intervalMs = 25, what = 'condition' }: { deadlineMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${deadlineMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
