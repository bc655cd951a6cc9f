import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT } from '../../chaos/services.js';
import { compiledEntry } from '../helpers/build.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { removeTestQueueKeys } from '../helpers/queue-keys.js';

/**
 * README: NODE_ENV=production refuses a missing DATABASE_URL or REDIS_URL (it would otherwise start an embedded
 * Postgres with a well-known password, or use whatever answers on 127.0.0.1), one line each, exit code 2. The CLI
 * runs with the deploy's settings too: without the refusal, `keys create` with DATABASE_URL left out made the
 * first admin key in a `credits` database on localhost (created and migrated for it), or in an embedded Postgres
 * the service never reads, and said it was done.
 */
let database: TestDatabase;
const prefix = `{cli-production-${process.pid}}`;
const dataDir = mkdtempSync(path.join(tmpdir(), 'credits-cli-production-'));

beforeAll(async () => {
  database = await createTestDatabase(2);
});
afterAll(async () => {
  await removeTestQueueKeys(prefix);
  await database?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

function cli(env: Record<string, string>, ...args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [...compiledEntry('src/cli/main.ts'), ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', DATA_DIR: dataDir, LOG_LEVEL: 'silent', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stderr })));
}

describe('the CLI with NODE_ENV=production', () => {
  it('refuses without REDIS_URL, one line, exit 2, and makes no key', async () => {
    const out = await cli({ DATABASE_URL: database.url }, 'keys', 'create', '--scope', 'admin', '--name', 'prod');
    expect(out.code, out.stderr).toBe(2);
    expect(out.stderr.trim()).toBe(
      'refusing to run: NODE_ENV=production needs REDIS_URL: it never spawns a redis-server of its own',
    );
    expect(await database.db('api_keys').where({ name: 'prod' })).toEqual([]);
  });

  it('refuses without DATABASE_URL before it looks for any Postgres', async () => {
    const out = await cli({ REDIS_URL: 'redis://127.0.0.1:1' }, 'keys', 'create', '--scope', 'admin');
    expect(out.code, out.stderr).toBe(2);
    expect(out.stderr.trim()).toBe(
      'refusing to run: NODE_ENV=production needs DATABASE_URL: it never starts an embedded Postgres of its own',
    );
  });

  /**
   * No key acts in the CLI: its audit row names the operating-system user. The image runs as `USER node`, which sets
   * no USER variable (nor does this test's environment): the account is still known to the system.
   */
  it('with both URLs makes the key, and its audit row names the system user without a USER variable', async () => {
    const env = { DATABASE_URL: database.url, REDIS_URL: inject('redisUrl'), BULL_PREFIX: prefix, MIGRATE: 'off' };
    const out = await cli(env, 'keys', 'create', '--scope', 'read', '--name', 'audited');
    expect(out.code, out.stderr).toBe(0);
    const key = await database.db('api_keys').where({ name: 'audited' }).first();
    const row = await database.db('audit_events').where({ origin: 'cli', target_id: key.id }).first();
    expect(row.actor_name).toBe(`cli:${userInfo().username}`);
  });
});
