import { Writable } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { type Sibling, startSibling, startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';
import { PgProxy } from '../helpers/pg-proxy.js';

/**
 * A worker's hot-path connections (the consumption pool, src/db/sql-client.ts) lost at the moments
 * a Postgres restart can pick: as a connection is made, while it sits idle, in the middle of a
 * batch. The worker runs in this process (a sibling reaching Postgres through a proxy): an 'error'
 * nobody hears would be an uncaught exception here — the chaos run's worker exited with code 1 on
 * one — so each case checks that the worker logged the loss, carried on, and applied the work once.
 */
const LOST = 'a Postgres connection of the hot path was lost; the pool replaces it';

let app: TestApp;
let proxy: PgProxy;
let worker: Sibling;
let admin: pg.Client;
/** An 'error' nobody heard: in a worker process of its own, the exit with code 1 CI saw. */
const uncaught: unknown[] = [];
let died: (error: unknown) => void = () => undefined;
const death = new Promise<never>((_, reject) => {
  died = reject;
});
death.catch(() => undefined);
const onUncaught = (error: unknown) => {
  uncaught.push(error);
  died(error);
};
/** The work's answer, or the worker's death if it comes first. */
const survived = <T>(work: Promise<T>): Promise<T> => Promise.race([work, death]);

/** The worker's log lines, and a wait for the next one that says something. */
const lines: Array<{ msg?: string; err?: { code?: string } }> = [];
const lineWaiters: Array<{ msg: string; from: number; resolve(): void }> = [];
const logged = (msg: string, from: number) =>
  lines.slice(from).some((l) => l.msg === msg)
    ? Promise.resolve()
    : new Promise<void>((resolve) => lineWaiters.push({ msg, from, resolve }));
const sink = new Writable({
  write(chunk: Buffer, _encoding, done) {
    for (const text of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(text));
    for (const w of [...lineWaiters])
      if (lines.slice(w.from).some((l) => l.msg === w.msg)) {
        lineWaiters.splice(lineWaiters.indexOf(w), 1);
        w.resolve();
      }
    done();
  },
});

let sms: { code: string };
let client: { id: string; external_ref: string };
let subscriptionId: string;

beforeAll(async () => {
  process.on('uncaughtException', onUncaught);
  app = await startTestApp({ roles: ['api'], now: '2026-05-01T00:00:00.000Z' });
  proxy = new PgProxy(app.database.url);
  await proxy.start();
  worker = await startSibling(app, ['worker'], {
    databaseUrl: proxy.through(app.database.url),
    log: createLogger('warn', 'credits', sink),
  });
  admin = new pg.Client({ connectionString: app.database.url });
  await admin.connect();
  sms = await createCreditType(app, { code: 'loss-sms' });
  const pkg = await createPackage(app, [{ credit_type: sms.code, units: 100 }]);
  client = await createClient(app);
  subscriptionId = (await subscribe(app, client.id, pkg.code)).id;
});

afterAll(async () => {
  await admin?.end();
  await worker?.stop();
  await proxy?.close();
  await app?.close();
  process.off('uncaughtException', onUncaught);
});

const consume = (key: string, quantity: number) =>
  app.request('POST', '/v1/consumptions?wait=true', {
    key: app.keys.write,
    body: { client: client.external_ref, credit_type: sms.code, quantity, idempotency_key: key },
  });

async function remaining(): Promise<bigint> {
  const rows = await app.database.db('balances').where({ subscription_id: subscriptionId }).select('remaining');
  return rows.reduce((sum, r) => sum + (r.remaining as bigint), 0n);
}

/** Probes a fact until it holds, at most `timeoutMs` (a short pause between probes). */
function until<T>(probe: () => Promise<T[]>, timeoutMs = 15_000): Promise<T[]> {
  return vi.waitFor(
    async () => {
      const found = await probe();
      if (found.length === 0) throw new Error(`not seen within ${timeoutMs} ms`);
      return found;
    },
    { timeout: timeoutMs, interval: 20 },
  );
}

/** The worker's hot-path backends, as Postgres sees them. */
async function hotPath(where: string): Promise<number[]> {
  const { rows } = await admin.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE datname = current_database()
        AND application_name LIKE 'credits-consumption:%' AND ${where}`,
  );
  return rows.map((r) => r.pid);
}

describe('the worker loses a hot-path connection to Postgres', () => {
  it('as the connection is made: the FATAL read with its ReadyForQuery is heard, the batch retried', async () => {
    // the worker's pool is empty: the first batch opens the connection the proxy ambushes
    const ambushed = proxy.ambushNext('credits-consumption:');
    const from = lines.length;
    const res = await survived(consume('as-made', 3));
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ status: 'applied', applied: '3' });
    // the client read the ReadyForQuery and the termination together, before anyone had it
    expect(await ambushed).toMatchObject({ types: ['Z', 'E'] });
    await logged(LOST, from);
    expect(lines.slice(from).find((l) => l.msg === LOST)?.err?.code).toBe('57P01');
    expect(await remaining()).toBe(97n);
    expect(uncaught).toEqual([]);
  });

  it('while idle, then in the middle of a batch: each is heard, and the work applied once', async () => {
    // a batch leaves its connection idle in the pool
    expect((await survived(consume('warm', 1))).status).toBe(200);
    const from = lines.length;
    const idle = await hotPath(`state = 'idle'`);
    expect(idle.length).toBeGreaterThan(0);
    await admin.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [idle]);
    await logged(LOST, from);

    // the batch waits for the balance's row lock, held by a session of the test's (not the one that
    // watches: pg_stat_activity stays as a transaction first read it); its connection is ended while it waits
    const locker = new pg.Client({ connectionString: app.database.url });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('SELECT id FROM balances WHERE subscription_id = $1 FOR UPDATE', [subscriptionId]);
    const pending = consume('mid-batch', 2);
    const [waiting] = await until(() => hotPath(`wait_event_type = 'Lock'`));
    const before = lines.length;
    await admin.query('SELECT pg_terminate_backend($1)', [waiting]);
    await locker.query('ROLLBACK');
    await locker.end();
    const res = await survived(pending);
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ status: 'applied', applied: '2' });
    await logged(LOST, before);

    const again = await survived(consume('after', 1));
    expect(again.status, again.text).toBe(200);
    expect(await remaining()).toBe(93n);
    const entries = await app.database.db('ledger_entries').whereNotNull('consumption_id').count({ n: '*' });
    expect(Number((entries as Array<{ n: unknown }>)[0]?.n)).toBe(4);
    expect(uncaught).toEqual([]);
  });
});
