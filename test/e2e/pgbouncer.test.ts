import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../../src/commands/index.js';
import { loadConfig } from '../../src/config.js';
import { jobIdOf } from '../../src/jobs/definitions.js';
import { createLogger } from '../../src/logger.js';
import { type RunningRoles, startRoles } from '../../src/roles.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import { verifyInvariants } from '../../src/services/verify.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';
import { type Pgbouncer, startPgbouncer } from '../helpers/pgbouncer.js';

/**
 * Issue 17, PgBouncer: the API and the workers of a process with PGBOUNCER=true talk to Postgres
 * through Debian's pgbouncer in transaction pooling (a pool smaller than the process's connections,
 * so server connections change hands between transactions) while LISTEN goes to
 * DATABASE_DIRECT_URL; the consumption path — single uses with ?wait=true, a batch, concurrent
 * uses on one balance — applies every use exactly once, and pgbouncer's own statistics show the
 * traffic went through it.
 */
describe('the consumption path behind PgBouncer (transaction pooling)', () => {
  let app: TestApp;
  let bouncer: Pgbouncer;
  let runtime: Runtime;
  let roles: RunningRoles;
  let base: string;
  beforeAll(async () => {
    app = await startTestApp();
    const direct = new URL(app.database.url);
    bouncer = await startPgbouncer({
      host: direct.hostname,
      port: Number(direct.port || 5432),
      database: app.database.name,
    });
    const config = loadConfig({
      LOG_LEVEL: 'silent',
      BULL_PREFIX: app.prefix,
      BUSINESS_TZ: 'UTC',
      PORT: '0',
      HOST: '127.0.0.1',
      WAIT_TIMEOUT_MS: '10000',
      PGBOUNCER: 'true',
      DATABASE_URL: bouncer.url,
      DATABASE_DIRECT_URL: app.database.url,
      DB_POOL_MAX: '20',
    });
    runtime = createRuntime({
      config,
      databaseUrl: bouncer.url,
      redisUrl: app.ctx.redisUrl,
      log: createLogger('silent'),
      clock: app.clock,
    });
    roles = await startRoles(runtime.ctx, ['api', 'worker']);
    base = `http://127.0.0.1:${roles.port}`;
  }, 60_000);
  afterAll(async () => {
    await roles?.stop();
    await runtime?.close();
    await bouncer?.stop();
    await app?.close();
  });

  const post = async (url: string, body: unknown) => {
    const res = await fetch(base + url, {
      method: 'POST',
      headers: { authorization: `Bearer ${app.keys.write}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  it('applies single, concurrent and batched uses exactly once, through pgbouncer', async () => {
    const sms = await createCreditType(app, { code: 'pgb-sms' });
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 1_000 }]);
    const client = await createClient(app);
    const sub = await subscribe(app, client.id, pkg.code);
    const use = (key: string, quantity = 1) => ({
      client: client.id,
      credit_type: sms.code,
      quantity,
      idempotency_key: key,
    });

    const first = await post('/v1/consumptions?wait=true', use('pgb-1', 5));
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body.status).toBe('applied');
    // the same again: the first answer, nothing applied twice
    const again = await post('/v1/consumptions?wait=true', use('pgb-1', 5));
    expect(again.body.replayed).toBe(true);

    // 120 at once on one balance: batches on server connections that change hands
    const many = await Promise.all(
      Array.from({ length: 120 }, (_, i) => post('/v1/consumptions?wait=true', use(`pgb-c${i}`))),
    );
    expect(many.filter((r) => r.status !== 200).map((r) => r.body)).toEqual([]);

    const items = Array.from({ length: 200 }, (_, i) => use(`pgb-b${i}`));
    const batch = await post('/v1/consumptions/batch', { items });
    expect(batch.status, JSON.stringify(batch.body)).toBe(202);
    const carried = await awaitOutcome(
      runtime.ctx,
      'consume-batch',
      jobIdOf('consume-batch', { batch_key: batch.body.batch_key, items }),
      { timeoutMs: 30_000, untilAdded: true },
    );
    expect(carried.state === 'completed' && carried.value.applied).toBe(200);

    const [balance] = await app.database.db('balances').where({ subscription_id: sub.id }).select('consumed');
    expect(BigInt(balance!.consumed)).toBe(5n + 120n + 200n);
    const consumptions = await app.database.db('consumptions').where({ client_id: client.id }).count({ n: '*' });
    expect(Number(consumptions[0]!.n)).toBe(1 + 120 + 200);
    expect((await verifyInvariants(app.database.db)).violations).toEqual([]);

    // pgbouncer carried it: its transactions for this database, and no prepared statement refused
    const admin = new pg.Client({ connectionString: bouncer.adminUrl });
    await admin.connect();
    try {
      const stats = await admin.query<{ database: string; total_xact_count: string }>('SHOW STATS');
      const row = stats.rows.find((r) => r.database === app.database.name);
      // (its totals are refreshed every stats_period: some of the run, not all of it, may show)
      expect(Number(row?.total_xact_count)).toBeGreaterThan(0);
    } finally {
      await admin.end();
    }
  }, 60_000);
});
