/**
 * One contender of the mutex-safety test, run as its own process:
 *   node --conditions=@cairn/source --import tsx mutex-holder.ts <ledger> <name> <endpoint>...
 * Loops forever: takes the lock, appends an `acquire` line to the ledger,
 * holds it for HOLD_MS, appends a `release` line, then unlocks (so the line
 * is written before the key goes). If its session's lease is lost while
 * holding, it appends `release` with lost=true at that moment and starts a
 * new session. Times are CLOCK_MONOTONIC nanoseconds (process.hrtime),
 * comparable across processes on one machine. The test ends it with SIGKILL.
 */
import { appendFileSync } from 'node:fs';
import { Clerk, Mutex, Session } from '@cairn/clerk';

const HOLD_MS = 150;
const SESSION_TTL_SECONDS = 3;
export const LOCK_PREFIX = 'mutex-safety/lock';

const [ledger, name, ...endpoints] = process.argv.slice(2);
if (ledger === undefined || name === undefined || endpoints.length === 0)
  throw new Error('usage: mutex-holder.ts <ledger> <name> <endpoint>...');

function record(fields: Record<string, string | number | boolean>): void {
  appendFileSync(ledger!, `${JSON.stringify({ ...fields, holder: name, pid: process.pid, t: process.hrtime.bigint().toString() })}\n`);
}

const clerk = await Clerk.connect({ endpoints, deadlineMs: 30_000 });
let session: Session | undefined;
for (;;) {
  try {
    if (session === undefined || session.signal.aborted) session = await Session.create(clerk, { ttl: SESSION_TTL_SECONDS });
    const current = session;
    const mutex = new Mutex(current, LOCK_PREFIX);
    const { fencingRevision } = await mutex.lock();
    record({ event: 'acquire', fencing: fencingRevision });
    let lost = false;
    const onLost = (): void => {
      lost = true;
      record({ event: 'release', fencing: fencingRevision, lost: true });
    };
    current.signal.addEventListener('abort', onLost, { once: true });
    if (current.signal.aborted) onLost();
    await new Promise((resolve) => setTimeout(resolve, HOLD_MS));
    current.signal.removeEventListener('abort', onLost);
    if (!lost) {
      record({ event: 'release', fencing: fencingRevision, lost: false });
      await mutex.unlock();
    }
  } catch (error) {
    // A failed lock or unlock (a lost session, a call past its deadline): start over.
    process.stderr.write(`${name}: ${String(error)}\n`);
  }
}
