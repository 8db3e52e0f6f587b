/** Port planning: fixed ports must be free; port 0 asks the OS for free ones. */
import { createServer } from 'node:net';

export class PortBusyError extends Error {
  readonly code = 'PORT_BUSY';
  constructor(readonly port: number) {
    super(`port ${port} on 127.0.0.1 is in use (another cluster running? pick other ports with --base-port)`);
    this.name = 'PortBusyError';
  }
}

/** Listens on `port` (0 = any) and releases it; resolves with the bound port. */
function probe(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => reject(error.code === 'EADDRINUSE' ? new PortBusyError(port) : error));
    server.listen(port, '127.0.0.1', () => {
      const bound = (server.address() as { port: number }).port;
      server.close(() => resolve(bound));
    });
  });
}

export async function assertPortsFree(ports: readonly number[]): Promise<void> {
  for (const port of ports) await probe(port);
}

/** `count` distinct OS-assigned free ports (free when asked; the usual small race applies). */
export async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await probe(0));
  return [...ports];
}
