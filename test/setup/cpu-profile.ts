import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';

/**
 * With SUITE_CPU_PROF=<dir>, each test file's V8 CPU profile (the test worker's process while the file runs: the
 * tests and the service they start in it) is written to <dir>/<file>-<pid>.cpuprofile; `bench/suite-profile.ts`
 * sums them. Without it, nothing. vitest's own `--execArgv=--cpu-prof` writes nothing here: its workers are ended
 * before node writes the profile at exit.
 */
const dir = process.env.SUITE_CPU_PROF;
if (dir) {
  const session = new Session();
  beforeAll(async () => {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 500 });
    await session.post('Profiler.start');
  });
  afterAll(async () => {
    const { profile } = await session.post('Profiler.stop');
    mkdirSync(dir, { recursive: true });
    const file = path.basename(expect.getState().testPath ?? 'unknown');
    writeFileSync(path.join(dir, `${file}-${process.pid}.cpuprofile`), JSON.stringify(profile));
    session.disconnect();
  });
}
