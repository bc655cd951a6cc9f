import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { REPO_ROOT } from '../../chaos/services.js';
import { createLogger } from '../../src/logger.js';
import { createRuntime } from '../../src/runtime.js';
import { runNightly } from '../../src/scheduler/nightly.js';
import { verifyInvariants } from '../../src/services/verify.js';
import { startTestApp, type TestApp, testConfig } from '../helpers/app.js';
import { compiledEntry } from '../helpers/build.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';

let app: TestApp;
let sms: { code: string };
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-03-01T00:00:00.000Z' });
  sms = await createCreditType(app, { code: 'n-sms' });
});
afterAll(async () => {
  await app.close();
});

describe('the scheduler only enqueues, with deterministic job ids', () => {
  it('two schedulers racing over the same night renew each due subscription once', async () => {
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }], { auto_renew: true });
    const subs = [];
    for (let i = 0; i < 5; i += 1) subs.push(await subscribe(app, (await createClient(app)).id, pkg.code));
    // a second scheduler process: its own runtime (connections, queue listeners) on the same database and queues
    const other = createRuntime({
      config: testConfig(app.prefix),
      databaseUrl: app.database.url,
      redisUrl: inject('redisUrl'),
      log: createLogger('silent'),
      clock: app.clock,
    });
    try {
      // the night before their period ends (1 April 00:00 from the file's start: 31 March 02:00), read from them
      app.clock.set(new Date(Date.parse(subs[0]!.current_period_end) - 22 * 3_600_000));
      const [a, b] = await Promise.all([
        runNightly(app.ctx, app.clock.now(), { phaseTimeoutMs: 20_000 }),
        runNightly(other.ctx, app.clock.now(), { phaseTimeoutMs: 20_000 }),
      ]);
      // each enqueues what is due when it looks: a period the other's workers renewed already is not due any more
      // (its new end is past the horizon), so the later look may see fewer than 5; every one it saw completes
      for (const run of [a, b]) {
        const renewals = run.phases[0]!;
        expect(renewals).toMatchObject({ phase: 'renewals', failed: [], pending: 0 });
        expect(renewals.completed).toBe(renewals.jobs);
      }
      expect(Math.max(a.phases[0]!.jobs, b.phases[0]!.jobs)).toBe(5);
      for (const sub of subs) {
        expect(await app.database.db('subscription_periods').where({ subscription_id: sub.id })).toHaveLength(2);
        expect(await app.database.db('invoices').where({ subscription_id: sub.id })).toHaveLength(2);
      }
    } finally {
      await other.close();
    }
  });
});

describe('verify', () => {
  it('finds nothing wrong in a ledger written by the service', async () => {
    // a balance of its own to check, whichever tests ran before it
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
    await subscribe(app, (await createClient(app)).id, pkg.code);
    const report = await verifyInvariants(app.database.db);
    expect(report).toMatchObject({ ok: true, violationCount: 0 });
    expect(report.checked.balances).toBeGreaterThan(0);
  });

  it('catches a ledger corrupted on purpose, precisely, and the CLI exits non-zero', async () => {
    // corrupted in a store of its own (an API on a database of its own): the ledger is append-only, so the file's
    // store, once corrupted, would stay so, and the verify above would find it whenever it ran after this test
    const store = await startTestApp({ roles: ['api'], now: app.clock.now().toISOString() });
    try {
      await corruptAndVerify(store);
    } finally {
      await store.close();
    }
  });
});

/** Writes a ledger through `app`, corrupts it three ways by hand, and checks that verify and the CLI name each. */
async function corruptAndVerify(app: TestApp): Promise<void> {
  const sms = await createCreditType(app);
  const client = await createClient(app);
  const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
  const sub = await subscribe(app, client.id, pkg.code);
  const balance = sub.balances[0]!;
  // 1: a balance whose remaining (and running total) no longer follow its ledger
  await app.database.db('balances').where({ id: balance.id }).update({ remaining: 7, consumed: 3 });
  // 2: an entry appended to another balance without changing it
  const other = await subscribe(app, client.id, pkg.code);
  const row = await app.database.db('ledger_entries').where({ balance_id: other.balances[0]!.id }).first();
  await app.database.db('ledger_entries').insert({
    ...row,
    seq: undefined,
    id: '00000000-0000-4000-8000-0000000000aa',
    kind: 'adjust',
    amount: 5,
    remaining_after: 15,
  });
  // 3: a gap in the invoice numbers
  await app.database
    .db('invoices')
    .where({ id: other.invoice.id })
    .update({ sequence: 9_999, number: 'INV-2026-009999' });

  const report = await verifyInvariants(app.database.db);
  expect(report.ok).toBe(false);
  const about = (subject: string) => report.violations.filter((v) => v.subject === subject).map((v) => v.detail);
  expect(about(`balance ${balance.id}`)).toEqual(
    expect.arrayContaining([
      expect.stringContaining('remaining is 7 (off by -3)'),
      expect.stringContaining('consumed is 3 but its ledger entries say 0'),
    ]),
  );
  expect(about(`balance ${other.balances[0]!.id}`)).toEqual(
    expect.arrayContaining([expect.stringContaining('adjusted is 0 but its ledger entries say 5')]),
  );
  expect(report.violations.some((v) => v.invariant === 'invoice_numbers')).toBe(true);

  const cli = spawn(process.execPath, [...compiledEntry('src/cli/main.ts'), 'verify'], {
    cwd: REPO_ROOT,
    env: { ...process.env, DATABASE_URL: app.database.url, REDIS_URL: inject('redisUrl'), LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  cli.stdout.on('data', (c: Buffer) => (output += c.toString()));
  cli.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const code = await new Promise<number | null>((resolve) => cli.on('close', resolve));
  expect(code).toBe(1);
  expect(output).toContain(`VIOLATION balance_ledger_sum — balance ${balance.id}`);
  expect(output).toContain('FAILED');
}

describe('node-cron entries', () => {
  it('run in BUSINESS_TZ and enqueue jobs named by their scheduled minute', async () => {
    const { startScheduler } = await import('../../src/scheduler/index.js');
    const scheduler = startScheduler(app.ctx);
    try {
      expect(scheduler.tasks).toHaveLength(2);
      const expire = scheduler.tasks[1]!;
      expect(expire.getPattern()).toBe(app.ctx.config.EXPIRE_CRON);
      await expire.execute();
      const jobs = await app.ctx.queues.maintenance.getJobs(['waiting', 'active', 'completed', 'delayed']);
      expect(jobs.map((j) => j.id)).toEqual(
        expect.arrayContaining([expect.stringMatching(/^expire\|\d{8}T\d{4}00\.000Z$/)]),
      );
    } finally {
      await scheduler.stop();
    }
  });

  it('a tick that comes late (a busy event loop at its minute) still runs, as of the minute it was due', async () => {
    const { startScheduler } = await import('../../src/scheduler/index.js');
    // only Date is faked (node-cron's timer is real): the entries are armed for 10:05:00 a tenth of a second away,
    // then the wall clock jumps to 10:05:05 before that timer fires — as a process blocked for five seconds sees it
    vi.useFakeTimers({ toFake: ['Date'] });
    let scheduler: Awaited<ReturnType<typeof startScheduler>> | undefined;
    try {
      vi.setSystemTime(new Date('2026-12-07T10:04:59.900Z'));
      scheduler = startScheduler(app.ctx);
      const expire = scheduler.tasks[1]!;
      const tick = new Promise<string>((resolve) => {
        expire.on('execution:started', (context) => resolve(`ran as of ${context.date?.toISOString()}`));
        expire.on('execution:missed', (context) => resolve(`missed ${context.date?.toISOString()}`));
      });
      vi.setSystemTime(new Date('2026-12-07T10:05:05.000Z'));
      expect(await tick).toBe('ran as of 2026-12-07T10:05:00.000Z');
    } finally {
      vi.useRealTimers();
      await scheduler?.stop();
    }
  });
});
