import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateDatabase } from '../../src/boot.js';
import { awaitOutcome } from '../../src/commands/index.js';
import { createDb } from '../../src/db/knex.js';
import { jobIds } from '../../src/jobs/job-id.js';
import { createLogger } from '../../src/logger.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import type { TestDatabase } from '../helpers/database.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';
import { type PrimaryAndReplica, startPrimaryAndReplica } from '../helpers/replica.js';
import { awaitRun } from '../helpers/reports.js';
import { signInToUi, uiPage } from '../helpers/ui-session.js';

/**
 * Issue 17, reports from a replica: the service on a primary of the test's own, with
 * REPORTS_DATABASE_URL on its streaming replica (`pg_basebackup -R`). A report streams its rows
 * from the replica — each server's pg_stat_statements shows the report's statement ran there and
 * never on the primary — and is never older than its start: with the replica's replay paused it
 * waits, and once replay resumes it includes the use committed just before it was asked for.
 */
const NOW = '2026-04-15T12:00:00.000Z';

async function statements(url: string): Promise<Array<{ query: string; calls: number }>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<{ query: string; calls: string }>(
      `SELECT query, calls::text FROM pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    );
    return result.rows.map((r) => ({ query: r.query, calls: Number(r.calls) }));
  } finally {
    await client.end();
  }
}

async function onServer<T>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

describe('reports stream from a streaming replica', () => {
  let servers: PrimaryAndReplica;
  let app: TestApp;
  beforeAll(async () => {
    servers = await startPrimaryAndReplica();
    await onServer(servers.primaryUrl('postgres'), 'CREATE DATABASE credits');
    await onServer(servers.primaryUrl('credits'), 'CREATE EXTENSION pg_stat_statements');
    await migrateDatabase(servers.primaryUrl('credits'), createLogger('silent'));
    const db = createDb({ url: servers.primaryUrl('credits'), poolMax: 10 });
    const database: TestDatabase = {
      url: servers.primaryUrl('credits'),
      name: 'credits',
      db,
      drop: async () => {
        await db.destroy();
      },
    };
    app = await startTestApp({
      roles: ['api', 'worker'],
      now: NOW,
      database,
      env: { REPORTS_DATABASE_URL: servers.replicaUrl('credits'), REPORTS_MAX_LAG_MS: '60000' },
    });
  }, 120_000);
  afterAll(async () => {
    await app?.close();
    await servers?.stop();
  });

  it('runs the report statement on the replica only, and waits for it to replay what came before', async () => {
    const sms = await createCreditType(app, { code: 'rep-sms' });
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 500 }]);
    const client = await createClient(app);
    await subscribe(app, client.id, pkg.code, { starts_at: '2026-04-01T00:00:00Z' });
    const use = async (key: string, quantity: number) => {
      const res = await app.request('POST', '/v1/consumptions?wait=true', {
        key: app.keys.write,
        body: {
          client: client.id,
          credit_type: sms.code,
          quantity,
          idempotency_key: key,
          occurred_at: '2026-04-10T09:00:00Z',
        },
      });
      expect(res.status, res.text).toBe(200);
    };
    await use('rep-1', 10);
    await use('rep-2', 20);

    // the replica stops replaying; a use commits on the primary; then the report is asked for
    await onServer(servers.replicaUrl('credits'), 'SELECT pg_wal_replay_pause()');
    await use('rep-3', 30);
    const res = await app.request('POST', '/v1/reports', {
      key: app.keys.write,
      body: { type: 'consumption', params: { from: '2026-04-01', to: '2026-04-15', group_by: 'month' } },
    });
    expect(res.status, res.text).toBe(202);
    const id = res.body.id as string;
    // while the replica lags, the report does not finish: it waits for the replica, it does not read stale rows
    const early = await awaitOutcome(app.ctx, 'generate', jobIds.report(id), { timeoutMs: 1_500, untilAdded: true });
    expect(early.state).toBe('timeout');
    await onServer(servers.replicaUrl('credits'), 'SELECT pg_wal_replay_resume()');
    const run = await awaitRun(app, id, 60_000);
    expect(run.status, JSON.stringify(run)).toBe('done');
    const download = await app.request('GET', `/v1/reports/${id}/download`, { key: app.keys.read });
    expect(download.status).toBe(200);
    const rows = (download.body as { rows: Array<Record<string, unknown>> }).rows;
    // 10 + 20 + the 30 committed while the replica was paused
    expect(rows).toEqual([expect.objectContaining({ period_start: '2026-04-01', consumed: '60', net: '60' })]);

    // the report's statement: run on the replica, never on the primary
    const replica = await statements(servers.replicaUrl('credits'));
    const primary = await statements(servers.primaryUrl('credits'));
    const reportStatements = replica.filter((s) => s.query.includes('AS period_start'));
    expect(reportStatements.length, JSON.stringify(replica.map((s) => s.query))).toBe(1);
    for (const statement of reportStatements)
      expect(
        primary.find((p) => p.query === statement.query),
        statement.query,
      ).toBeUndefined();
  }, 120_000);

  it("the overview's display windows read from the replica too", async () => {
    const session = await signInToUi(app.baseUrl, app.keys.admin);
    const overview = await uiPage(app.baseUrl, session, '/ui');
    expect(overview.status).toBe(200);
    expect(overview.html).toContain('Overview');
    // the "nearly consumed" window's statement: on the replica, never on the primary (pg_stat_statements
    // keeps each statement's text with its constants made parameters)
    const isNearly = (s: { query: string }) => /^\s*SELECT a\.subscription_id, c\.id AS client_id/.test(s.query);
    expect((await statements(servers.replicaUrl('credits'))).filter(isNearly)).toHaveLength(1);
    expect((await statements(servers.primaryUrl('credits'))).filter(isNearly)).toEqual([]);
  });
});
