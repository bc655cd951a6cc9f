import { spawn } from 'node:child_process';
import { inject } from 'vitest';
import type { TestApp } from './app.js';

/** `npm run cli -- …` as an operator runs it, on the test app's database and queues; its clock is the real one. */
export async function runCli(
  app: TestApp,
  ...args: string[]
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    env: {
      ...process.env,
      DATABASE_URL: app.database.url,
      REDIS_URL: inject('redisUrl'),
      BULL_PREFIX: app.prefix,
      BUSINESS_TZ: 'UTC',
      LOG_LEVEL: 'silent',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stdout, stderr };
}
