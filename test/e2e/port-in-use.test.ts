import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT } from '../../chaos/services.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { removeTestQueueKeys } from '../helpers/queue-keys.js';

/**
 * README "Health": every process answers on its PORT, so each needs a port of its own. A process whose PORT is
 * taken (a second worker on one host left at the default) must not say "credits is up" without a listener: its
 * probes would answer nobody, or another process's, and an API would serve nothing. It exits 1, naming the port.
 */
let database: TestDatabase;
let holder: Server;
let port: number;
const prefix = `{port-in-use-${process.pid}}`;

beforeAll(async () => {
  database = await createTestDatabase(2);
  holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  port = (holder.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise((resolve) => holder?.close(resolve));
  await removeTestQueueKeys(prefix);
  await database?.drop();
});

describe('a process whose PORT is taken', () => {
  for (const roles of ['worker', 'api']) {
    it(`ROLES=${roles}: exits 1 naming the port, never "credits is up"`, { timeout: 60_000 }, async () => {
      // the service as `npm start` runs it, with the settings of a deploy's process
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
        cwd: REPO_ROOT,
        env: {
          PATH: process.env.PATH ?? '',
          DATABASE_URL: database.url,
          REDIS_URL: inject('redisUrl'),
          BULL_PREFIX: prefix,
          MIGRATE: 'off',
          ROLES: roles,
          HOST: '127.0.0.1',
          PORT: String(port),
          LOG_LEVEL: 'info',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      const up = new Promise<void>((resolve) => {
        const read = (chunk: Buffer) => {
          output += chunk.toString('utf8');
          if (output.includes('"msg":"credits is up"')) resolve();
        };
        child.stdout.on('data', read);
        child.stderr.on('data', read);
      });
      try {
        const first = await Promise.race([up.then(() => 'up' as const), exited.then(() => 'exited' as const)]);
        expect(first, output).toBe('exited');
        expect(await exited, output).toBe(1);
        expect(output).toContain(`refusing to start: 127.0.0.1:${port} (HOST, PORT) is in use (EADDRINUSE)`);
      } finally {
        if (child.exitCode === null) {
          child.kill('SIGTERM');
          await exited;
        }
      }
    });
  }
});
