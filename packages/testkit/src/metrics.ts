/**
 * Reads a node's Prometheus text (`GET /metrics` on its HTTP address) the way
 * tests need it: the sum of every sample of one metric, over all its label sets.
 */
export async function metricSum(name: string, httpAddress: string): Promise<number> {
  const text = await (await fetch(`http://${httpAddress}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
  let total = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (line !== name && !line.startsWith(`${name} `) && !line.startsWith(`${name}{`)) continue;
    found = true;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  if (!found) throw new Error(`metric ${name} is not exported by ${httpAddress}`);
  return total;
}
