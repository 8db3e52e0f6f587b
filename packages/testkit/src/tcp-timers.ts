/**
 * The kernel's view of this machine's IPv4 TCP sockets (Linux /proc/net/tcp):
 * which timer each has armed and when it fires. A TCP keepalive's effect
 * takes minutes to see; its armed timer shows at once that it is set, and
 * to what delay.
 */
import { readFile } from 'node:fs/promises';

export interface TcpTimer {
  readonly localPort: number;
  readonly remotePort: number;
  /** 0 none, 1 retransmit, 2 keepalive, 3 TIME_WAIT, 4 zero-window probe. */
  readonly timer: number;
  /** Until the timer fires. */
  readonly whenMs: number;
}

/** Whether /proc/net/tcp can be read here (Linux). */
export const tcpTimersReadable = process.platform === 'linux';

/** Established sockets (state 01) and their timers. */
export async function tcpTimers(): Promise<TcpTimer[]> {
  const lines = (await readFile('/proc/net/tcp', 'utf8')).split('\n').slice(1);
  const sockets: TcpTimer[] = [];
  for (const line of lines) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 6 || fields[3] !== '01') continue;
    const [timer, when] = fields[5]!.split(':');
    sockets.push({
      localPort: parseInt(fields[1]!.split(':')[1]!, 16),
      remotePort: parseInt(fields[2]!.split(':')[1]!, 16),
      timer: parseInt(timer!, 16),
      // In clock ticks of USER_HZ (100 per second).
      whenMs: parseInt(when!, 16) * 10,
    });
  }
  return sockets;
}
