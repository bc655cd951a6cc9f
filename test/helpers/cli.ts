import { spawn } from 'node:child_process';
import { inject } from 'vitest';
import { REPO_ROOT } from '../../chaos/services.js';
import type { TestApp } from './app.js';
import { compiledEntry } from './build.js';

type CliExit = { code: number | null; stdout: string; stderr: string };

/**
 * The CLI as an operator runs it where the image runs (`node dist/src/cli/main.js …`, README), on the test app's
 * database and queues; its clock is the real one.
 */
export const runCli = (app: TestApp, ...args: string[]): Promise<CliExit> =>
  run(app, process.execPath, [...compiledEntry('src/cli/main.ts'), ...args]);

/** The same through `npm run cli -- …`: tsx, from the sources, as README's walkthrough runs it. */
export const runCliFromSources = (app: TestApp, ...args: string[]): Promise<CliExit> =>
  run(app, 'npm', ['run', '-s', 'cli', '--', ...args]);

async function run(app: TestApp, command: string, argv: string[]): Promise<CliExit> {
  const child = spawn(command, argv, {
    cwd: REPO_ROOT,
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
