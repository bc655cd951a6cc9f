import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../../src/commands/index.js';
import { type RunningScheduler, startScheduler } from '../../src/scheduler/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { closeVerified, httpSteps } from '../helpers/http-steps.js';

/**
 * README "Acceptance runs: moving time": with CLOCK=manual time moves only when told (PUT /v1/admin/clock). The
 * scheduler's cron entries still fire on the wall clock; a tick used to sweep as of the wall clock's minute, so a
 * service whose clock stood behind it (the clock stands still from the start while the wall clock runs on) had its
 * holds expired, its periods ended and its freezes lifted before its own time came. A tick sweeps as of the
 * service's now. The service's clock here is 15 January 2026, 10:00, long before any wall clock this runs under.
 */
let app: TestApp;
let scheduler: RunningScheduler | undefined;
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-01-15T10:00:00.000Z' });
});
afterAll(async () => {
  await scheduler?.stop();
  await closeVerified(app);
});

const { ok } = httpSteps(() => app);

describe('the expiry sweep of a cron tick under a manual clock', () => {
  it('sweeps as of the service’s now: a hold not yet due stays held, a period still running stays', async () => {
    await ok('POST', '/v1/credit-types', { code: 'sms', name: 'SMS', unit: 'message' }, 201);
    const pkg = { code: 'p', name: 'P', price: 100, currency: 'USD', validity: { count: 1, unit: 'month' } };
    await ok('POST', '/v1/packages', { ...pkg, items: [{ credit_type: 'sms', units: 100 }], auto_renew: false }, 201);
    await ok('POST', '/v1/clients', { external_ref: 'c', name: 'C' }, 201);
    const sub = await ok('POST', '/v1/subscriptions', { client: 'c', package: 'p' }, 201);
    // due at 10:10 of the service's clock
    const hold = await ok('POST', '/v1/holds?wait=true', {
      client: 'c',
      credit_type: 'sms',
      quantity: 10,
      idempotency_key: 'call-1',
      expires_in_seconds: 600,
    });
    expect(hold).toMatchObject({ status: 'held', expires_at: '2026-01-15T10:10:00.000Z' });

    scheduler = startScheduler(app.ctx);
    for (const job of await scheduler.caughtUp) await awaitOutcome(app.ctx, job.name, job.jobId, { timeoutMs: 20_000 });
    const expire = scheduler.tasks[1]!;
    expect(expire.getPattern()).toBe(app.ctx.config.EXPIRE_CRON);
    await expire.execute();
    const jobs = await app.ctx.queues.maintenance.getJobs(['waiting', 'active', 'completed', 'delayed', 'failed']);
    const sweeps = jobs.filter((j) => j.name === 'expire').map((j) => j.id ?? '');
    for (const id of sweeps) await awaitOutcome(app.ctx, 'expire', id, { timeoutMs: 20_000 });

    expect(await ok('GET', `/v1/holds/${hold.id}`)).toMatchObject({ status: 'held', held: '10' });
    expect(await ok('GET', `/v1/subscriptions/${sub.id}`)).toMatchObject({
      status: 'active',
      current_period_end: '2026-02-15T10:00:00.000Z',
    });
    const balances = await ok('GET', '/v1/clients/c/balances');
    expect(balances.data[0]).toMatchObject({ remaining: '90', held: '10', expired: '0' });
    // named by the service's minute (the same as the catch-up's at start), not by the wall clock's
    expect([...new Set(sweeps)]).toEqual(['expire|20260115T100000.000Z']);
  });
});
