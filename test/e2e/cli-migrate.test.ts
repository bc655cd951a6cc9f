import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT } from '../../chaos/services.js';
import { pendingMigrations } from '../../src/db/migrate.js';
import { compiledEntry } from '../helpers/build.js';
import { createEmptyDatabase, type TestDatabase } from '../helpers/database.js';
import { removeTestQueueKeys } from '../helpers/queue-keys.js';

/**
 * `npm run cli -- migrate` ("apply pending migrations") says what it applied, whatever MIGRATE says. With
 * MIGRATE=off (the image's setting) it refused to start because the schema was behind — the very thing it is
 * run to fix; with MIGRATE=on the start had already migrated, and it answered "already up to date".
 */
const prefix = `{cli-migrate-${process.pid}}`;
const databases: TestDatabase[] = [];

beforeAll(async () => {
  databases.push(await createEmptyDatabase(), await createEmptyDatabase(), await createEmptyDatabase());
});
afterAll(async () => {
  await removeTestQueueKeys(prefix);
  for (const database of databases) await database.drop();
});

function cli(database: TestDatabase, migrate: string, ...args: string[]) {
  return cliLogging(database, migrate, 'silent', ...args);
}

function cliLogging(database: TestDatabase, migrate: string, logLevel: string, ...args: string[]) {
  const child = spawn(process.execPath, [...compiledEntry('src/cli/main.ts'), ...args], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: database.url,
      REDIS_URL: inject('redisUrl'),
      BULL_PREFIX: prefix,
      LOG_LEVEL: logLevel,
      MIGRATE: migrate,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('close', (code) => resolve({ code, stdout, stderr })),
  );
}

describe('cli migrate', () => {
  for (const [index, migrate] of ['off', 'on'].entries()) {
    it(`with MIGRATE=${migrate}: applies what is pending and says so, then "already up to date"`, {
      timeout: 60_000,
    }, async () => {
      const database = databases[index]!;
      const first = await cli(database, migrate, 'migrate');
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toMatch(/^applied: 0001_catalog, /);
      expect(await pendingMigrations(database.db)).toEqual([]);
      const again = await cli(database, migrate, 'migrate');
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout.trim()).toBe('already up to date');
    });
  }
});

describe('cli output', () => {
  // `keys list | jq` or `run-nightly | jq`: the log lines (here the start's "migrations applied") went to stdout
  it('prints what the command answers on stdout and its log lines on stderr', { timeout: 60_000 }, async () => {
    const listed = await cliLogging(databases[2]!, 'on', 'info', 'keys', 'list');
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toBe('');
    expect(listed.stderr).toContain('migrations applied');
  });
});
