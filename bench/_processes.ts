/**
 * What the end-to-end benchmarks read from the real processes they start (test/chaos/processes.ts `Proc`): memory,
 * CPU time and the machine's load, printed beside every figure (the machine is shared, so wall-clock figures alone
 * mislead).
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import type { Proc } from '../test/chaos/processes.js';

export const MiB = (b: number | undefined): string => (b === undefined ? '-' : `${(b / 2 ** 20).toFixed(0)} MiB`);

/** Samples a process's RSS every 250 ms; returns the peak seen. */
export function sampler(proc: () => Proc | undefined): { stop(): number } {
  let peak = 0;
  const timer = setInterval(() => {
    const rss = proc()?.rss();
    if (rss !== undefined && rss > peak) peak = rss;
  }, 250);
  return {
    stop() {
      clearInterval(timer);
      return peak;
    },
  };
}

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ: 100 on every Linux ABI Node runs on). */
const USER_HZ = 100;

/** CPU time (user + system, all threads) a process has used so far, in seconds; undefined once it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: fields are counted from after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / USER_HZ; // utime, stime (fields 14 and 15)
  } catch {
    return undefined;
  }
}

/** The 1-minute load average, as printed beside a figure. */
export const load1 = (): string => loadavg()[0]!.toFixed(2);
