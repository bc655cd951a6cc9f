import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time from Linux /proc, in clock ticks (USER_HZ, 100 per second): what a phase of `npm run load`
 * cost each process it measures, and how busy the machine was with other work meanwhile — on a shared
 * two-core host that is what makes a figure trustworthy or not. (bench/run.ts reads /proc the same way.)
 */
export const TICKS_PER_SECOND = 100;

/** user + system ticks of one process so far; 0 once it is gone. */
export function processTicks(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

export function pidsNamed(name: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === name;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Ticks of all CPUs so far: busy (not idle, not waiting for I/O) and in all. */
export function machineTicks(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user)
  const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - fields[3]! - fields[4]!, total };
}

/**
 * Ticks spent between two samples, process by process: a process that started in between counts from
 * zero, one that exited is left out (a total would go negative when a process ends).
 */
export function ticksBetween(before: Map<number, number>, after: Map<number, number>): number {
  let ticks = 0;
  for (const [pid, now] of after) ticks += Math.max(0, now - (before.get(pid) ?? 0));
  return ticks;
}

export const ticksOf = (pids: readonly number[]) => new Map(pids.map((pid) => [pid, processTicks(pid)]));
