import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChaosPostgres, freePort, withPgClient } from '../../chaos/services.js';
import { ensureDatabase, withDatabase } from '../../src/infra/services.js';

/**
 * README: `DATABASE_URL` names the database, "created if missing". Every start (and `npm run migrate`) checked that
 * from the server's maintenance database, `postgres` — so a role that may connect to its own database only (managed
 * Postgres often revokes CONNECT on `postgres` from PUBLIC) could not start at all, "permission denied for database
 * postgres", though its database was there. The check now connects to the database itself, and goes to `postgres`
 * only to make one that is missing. A server of the test's own: its grants change.
 */
const dir = mkdtempSync(path.join(tmpdir(), 'credits-connect-only-'));
// Postgres, run as its own user when the tests run as root, must reach its directory
chmodSync(dir, 0o755);
let postgres: ChaosPostgres;
let appUrl: string;

beforeAll(async () => {
  postgres = new ChaosPostgres(await freePort(), path.join(dir, 'data'), path.join(dir, 'postgres.log'));
  await postgres.start();
  await withPgClient(postgres.serverUrl, async (client) => {
    await client.query(`CREATE ROLE app LOGIN PASSWORD 'app-secret'`);
    await client.query('CREATE DATABASE credits_app OWNER app');
    await client.query('REVOKE CONNECT ON DATABASE postgres FROM PUBLIC');
  });
  appUrl = `postgres://app:app-secret@127.0.0.1:${postgres.port}/credits_app`;
}, 120_000);
afterAll(async () => {
  await postgres?.stop();
  postgres?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a role that may connect to its own database only', () => {
  it('cannot reach postgres (the premise)', async () => {
    await expect(withPgClient(withDatabase(appUrl, 'postgres'), async () => undefined)).rejects.toThrow(
      /permission denied for database "postgres"/,
    );
  });

  it('passes the start’s check of its database, which exists', async () => {
    await expect(ensureDatabase(withDatabase(appUrl, 'postgres'), 'credits_app')).resolves.toBeUndefined();
  });

  it('a missing database is still made, from postgres', async () => {
    await ensureDatabase(postgres.serverUrl, 'credits_made');
    const found = await withPgClient(postgres.serverUrl, (client) =>
      client.query(`SELECT 1 FROM pg_database WHERE datname = 'credits_made'`),
    );
    expect(found.rowCount).toBe(1);
  });
});
