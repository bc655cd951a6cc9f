import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT } from '../../chaos/services.js';
import { pendingMigrations } from '../../src/db/migrate.js';
import { compiledEntry } from '../helpers/build.js';
import { createEmptyDatabase, type TestDatabase } from '../helpers/database.js';
import { type Pgbouncer, startPgbouncer } from '../helpers/pgbouncer.js';
import { removeTestQueueKeys } from '../helpers/queue-keys.js';

/**
 * README "Configuration", PGBOUNCER: DATABASE_URL is a PgBouncer in transaction pooling, and migrations and
 * creating the database go to DATABASE_DIRECT_URL. The deploy's steps run as an operator runs them, with the
 * settings every process has: `npm run migrate` (its source, src/migrate.ts) and `npm run cli -- keys …`
 * (the first admin key of a new deploy is made there). A pgbouncer that pools only the service's database
 * has no `postgres` database, and refuses a `statement_timeout` startup parameter.
 */
let database: TestDatabase;
let bouncer: Pgbouncer;
const prefix = `{pgb-deploy-${process.pid}}`;

beforeAll(async () => {
  database = await createEmptyDatabase();
  const direct = new URL(database.url);
  bouncer = await startPgbouncer({ host: direct.hostname, port: Number(direct.port || 5432), database: database.name });
});
afterAll(async () => {
  await bouncer?.stop();
  await removeTestQueueKeys(prefix);
  await database?.drop();
});

function run(script: string, args: string[]): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [...compiledEntry(script), ...args], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      MIGRATE: 'off',
      PGBOUNCER: 'true',
      DATABASE_URL: bouncer.url,
      DATABASE_DIRECT_URL: database.url,
      REDIS_URL: inject('redisUrl'),
      BULL_PREFIX: prefix,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (out += c.toString('utf8')));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, out })));
}

describe('the deploy steps with PGBOUNCER=true', () => {
  it('npm run migrate migrates through DATABASE_DIRECT_URL; the CLI makes and lists keys, verifies', {
    timeout: 120_000,
  }, async () => {
    const migrated = await run('src/migrate.ts', []);
    expect(migrated.code, migrated.out).toBe(0);
    expect(await pendingMigrations(database.db)).toEqual([]);

    const created = await run('src/cli/main.ts', ['keys', 'create', '--scope', 'admin', '--name', 'first']);
    expect(created.code, created.out).toBe(0);
    expect(created.out.trim().split('\n').at(-1)).toMatch(/^crd_[\w-]{30,}$/);
    const listed = await run('src/cli/main.ts', ['keys', 'list']);
    expect(listed.code, listed.out).toBe(0);
    expect(listed.out).toContain('"name":"first"');
    const verified = await run('src/cli/main.ts', ['verify']);
    expect(verified.code, verified.out).toBe(0);
    expect(verified.out).toContain('ok: every invariant holds');
    const migrate = await run('src/cli/main.ts', ['migrate']);
    expect(migrate.code, migrate.out).toBe(0);
    expect(migrate.out).toContain('already up to date');
  });
});
