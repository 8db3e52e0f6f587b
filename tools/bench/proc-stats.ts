/** Process and disk measurements from Linux /proc and the file system. */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** VmRSS of a process, in bytes (from /proc/<pid>/status, which reports kB). */
export function readRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (match === null) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

let clockTicksPerSecond: number | undefined;

function clockTicks(): number {
  if (clockTicksPerSecond === undefined) {
    try {
      clockTicksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicksPerSecond = 100; // The Linux default.
    }
  }
  return clockTicksPerSecond;
}

/** User + system CPU seconds a process has used (fields 14 and 15 of /proc/<pid>/stat). */
export function readCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces; fields are counted after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / clockTicks();
}

/** readCpuSeconds, or NaN once the process is gone. */
export function cpuSecondsOrNaN(pid: number): number {
  try {
    return readCpuSeconds(pid);
  } catch {
    return NaN;
  }
}

/** Total size of the regular files under `dir`, in bytes. */
export function dirSizeBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    try {
      if (entry.isDirectory()) total += dirSizeBytes(path);
      else if (entry.isFile()) total += statSync(path).size;
    } catch {
      // A file removed while we walk (compaction) does not count.
    }
  }
  return total;
}
