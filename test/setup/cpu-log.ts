import { appendFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';

/**
 * With SUITE_CPU_LOG=<file>, a JSON line per test file: the test worker's own CPU milliseconds while the file ran
 * (its tests and the service they start in-process; not the processes they spawn, nor Postgres — the database
 * helper adds the file's Postgres time, `pg_active_ms`, in a line of its own) and its wall milliseconds.
 */
const log = process.env.SUITE_CPU_LOG;
if (log) {
  let cpu: NodeJS.CpuUsage;
  let wall = 0;
  beforeAll(() => {
    cpu = process.cpuUsage();
    wall = performance.now();
  });
  afterAll(() => {
    const used = process.cpuUsage(cpu);
    const file = path.relative(process.cwd(), expect.getState().testPath ?? 'unknown');
    const line = {
      file,
      cpu_ms: Math.round((used.user + used.system) / 1000),
      wall_ms: Math.round(performance.now() - wall),
    };
    appendFileSync(log, `${JSON.stringify(line)}\n`);
  });
}
