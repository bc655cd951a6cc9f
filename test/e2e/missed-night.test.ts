import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobIdOf } from '../../src/jobs/definitions.js';
import { startScheduler } from '../../src/scheduler/index.js';
import { runNightly } from '../../src/scheduler/nightly.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';
import { signInToUi, uiPage } from '../helpers/ui-session.js';

/**
 * A scheduler that was down at the nightly minute (02:00 UTC by default) runs that night when it starts: node-cron
 * runs nothing it missed, and the catch-up at start (renewals, an expiry sweep) left the night's notices,
 * housekeeping, reports and verify undone (migration 0028 records the runs). The clock is the service's own, moved by
 * hand; the scheduler is started and stopped by the tests.
 *
 * The cast: one balance of 10 days from 1 March 00:00 (expires 11 March). EXPIRING_SOON_DAYS is 7: the run of
 * 1 March 02:00 looks as far as 8 March and tells nothing; the run of 4 March 02:00 looks as far as 11 March 02:00.
 */
let app: TestApp;
let balanceId: string;
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-03-01T00:00:00.000Z' });
  const sms = await createCreditType(app);
  const pkg = await createPackage(app, [{ credit_type: sms.code, units: 50 }], {
    validity: { count: 10, unit: 'day' },
  });
  const sub = await subscribe(app, (await createClient(app)).id, pkg.code);
  balanceId = sub.balances[0]!.id;
});
afterAll(async () => {
  await app.close();
});

const at = (iso: string) => app.clock.set(iso);
/** The overview page's line about the last nightly run: its state and text. */
const overviewLine = async (lang = 'en') => {
  const session = await signInToUi(app.baseUrl, app.keys.admin);
  const page = await uiPage(app.baseUrl, session, `/ui?lang=${lang}`);
  expect(page.status).toBe(200);
  const line = /<p class="[^"]*" data-nightly="([a-z-]+)">(.*?)<\/p>/s.exec(page.html);
  // the text as read (a time is a <time> element)
  return [line?.[1], line?.[2]?.replace(/<[^>]+>/g, '')];
};
const run = (asOf: string) =>
  app.database
    .db('nightly_runs')
    .where({ as_of: new Date(asOf) })
    .first();
const expiringSoon = () =>
  app.database.db('outbox_events').where({ type: 'balance.expiring_soon', subject_id: balanceId }).count('* as n');

// One story told in steps, on one install: its nights run in the order of the calendar (the clock only moves forward),
// and each step is the consequence of the one before — the first needs an install where no night ever ran, the
// next runs the night of 4 March after that of 1 March, the list reads the runs the steps before made. So its steps
// keep their order under --sequence.shuffle (vitest's `shuffle: false` on this describe); the file has no other test.
describe('a scheduler that starts after a nightly minute it missed', { shuffle: false }, () => {
  it('on a new install (no night ever ran) runs none', async () => {
    at('2026-03-01T01:00:00.000Z');
    const scheduler = startScheduler(app.ctx);
    try {
      expect(await scheduler.missedNight).toBeUndefined();
    } finally {
      await scheduler.stop();
    }
    expect(await app.database.db('nightly_runs').count('* as n')).toEqual([{ n: 0n }]);
    expect(await overviewLine()).toEqual(['none', 'No nightly run has run yet.']);
    const metrics = await app.request('GET', '/metrics', { key: app.keys.read });
    expect(metrics.text).toMatch(/^credits_nightly_last_finished_timestamp_seconds 0$/m);
  });

  it('runs the last night it missed, as of its minute, to its end: notices, reports, verify', async () => {
    at('2026-03-01T02:00:00.000Z');
    await runNightly(app.ctx, app.clock.now(), { phaseTimeoutMs: 20_000 });
    expect(await run('2026-03-01T02:00:00.000Z')).toMatchObject({ finished_at: expect.any(Date) });
    expect(await expiringSoon()).toEqual([{ n: 0n }]);

    // down through the nights of 2, 3 and 4 March; up again on 4 March 09:30
    at('2026-03-04T09:30:00.000Z');
    const scheduler = startScheduler(app.ctx);
    let report: Awaited<typeof scheduler.missedNight>;
    try {
      report = await scheduler.missedNight;
    } finally {
      await scheduler.stop();
    }
    expect(report?.as_of).toBe('2026-03-04T02:00:00.000Z');
    expect(report?.phases.map((p) => [p.phase, p.failed.length, p.pending])).toEqual([
      ['renewals', 0, 0],
      ['expiry', 0, 0],
      ['events', 0, 0],
      ['verify', 0, 0],
    ]);
    expect(report?.verify).toMatchObject({ ok: true });
    // the night's notice, as of its minute: the balance expires on 11 March 00:00, within 7 days of 4 March 02:00
    expect(await expiringSoon()).toEqual([{ n: 1n }]);
    expect(await run('2026-03-04T02:00:00.000Z')).toMatchObject({
      started_at: new Date('2026-03-04T09:30:00.000Z'),
      finished_at: new Date('2026-03-04T09:30:00.000Z'),
      report: { as_of: '2026-03-04T02:00:00.000Z' },
    });
    // so does /metrics, for an alert on a night that did not run (or broke an invariant)
    const metrics = await app.request('GET', '/metrics', { key: app.keys.read });
    const value = (name: string) => new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics.text)?.[1];
    expect(Number(value('credits_nightly_last_finished_timestamp_seconds'))).toBe(
      Date.parse('2026-03-04T02:00:00.000Z') / 1_000,
    );
    expect(value('credits_nightly_violations')).toBe('0');
    // the back office's overview says so
    expect(await overviewLine()).toEqual(['ok', 'Last nightly run: 4 Mar 2026, 02:00; every invariant holds.']);
    expect((await overviewLine('ar'))[0]).toBe('ok');
    // the nights of 2 and 3 March are not run one by one: the notices and the verify look at the whole store
    expect(await run('2026-03-03T02:00:00.000Z')).toBeUndefined();

    // a scheduler started after it (a restart, a second machine) has nothing to catch up
    const again = startScheduler(app.ctx);
    try {
      expect(await again.missedNight).toBeUndefined();
    } finally {
      await again.stop();
    }
  });

  it('stopped in the middle of that night, leaves it unfinished: the next start runs it again', async () => {
    at('2026-03-06T09:30:00.000Z');
    const expireJob = jobIdOf('expire', { as_of: '2026-03-06T02:00:00.000Z' });
    const maintenance = app.ctx.queues.maintenance;
    await maintenance.pause();
    const scheduler = startScheduler(app.ctx);
    try {
      // the night's expiry phase waits for its job, which the paused queue does not hand out
      await expect.poll(() => maintenance.getJobState(expireJob), { timeout: 20_000 }).toBe('waiting');
    } finally {
      await scheduler.stop();
    }
    const stopped = await scheduler.missedNight;
    expect(stopped?.as_of).toBe('2026-03-06T02:00:00.000Z');
    expect(stopped?.phases.map((p) => [p.phase, p.pending])).toEqual([
      ['renewals', 0],
      ['expiry', 1],
    ]);
    expect(await run('2026-03-06T02:00:00.000Z')).toMatchObject({ finished_at: null, report: null });
    expect((await overviewLine())[0]).toBe('unfinished');

    await maintenance.resume();
    const restarted = startScheduler(app.ctx);
    try {
      expect((await restarted.missedNight)?.phases.map((p) => [p.phase, p.pending])).toEqual([
        ['renewals', 0],
        ['expiry', 0],
        ['events', 0],
        ['verify', 0],
      ]);
    } finally {
      await restarted.stop();
    }
    expect(await run('2026-03-06T02:00:00.000Z')).toMatchObject({ finished_at: expect.any(Date) });
  });

  it('GET /v1/admin/nightly-runs lists the runs newest first, a page at a time', async () => {
    const first = await app.request('GET', '/v1/admin/nightly-runs?limit=2');
    expect(first.status, first.text).toBe(200);
    expect(first.body.data.map((r: { as_of: string }) => r.as_of)).toEqual([
      '2026-03-06T02:00:00.000Z',
      '2026-03-04T02:00:00.000Z',
    ]);
    expect(first.body.data[1]).toMatchObject({
      started_at: '2026-03-04T09:30:00.000Z',
      finished_at: '2026-03-04T09:30:00.000Z',
      report: { as_of: '2026-03-04T02:00:00.000Z', verify: { ok: true } },
    });
    const rest = await app.request(`GET`, `/v1/admin/nightly-runs?limit=2&cursor=${first.body.next_cursor}`);
    expect(rest.body).toMatchObject({ data: [{ as_of: '2026-03-01T02:00:00.000Z' }], next_cursor: null });
    const bad = await app.request('GET', '/v1/admin/nightly-runs?cursor=bm90IGEgZGF0ZQ');
    expect(bad.status).toBe(422);
    expect(bad.body).toMatchObject({ code: 'validation_failed' });
    // an admin's list: a read key is refused
    expect((await app.request('GET', '/v1/admin/nightly-runs', { key: app.keys.read })).status).toBe(403);
  });

  it('the overview warns when the last night found invariants broken', async () => {
    // a night whose verify found two violations, as its report keeps it
    const asOf = new Date('2026-03-07T02:00:00.000Z');
    const report = { as_of: asOf.toISOString(), phases: [], verify: { ok: false, violationCount: 2, violations: [] } };
    await app.database.db('nightly_runs').insert({ as_of: asOf, started_at: asOf, finished_at: asOf, report });
    expect(await overviewLine()).toEqual([
      'violations',
      'Last nightly run: 7 Mar 2026, 02:00; 2 invariant violations (POST /v1/admin/verify names them).',
    ]);
    // Arabic digits, the date as the Arabic locale writes it (right-to-left marks after each part)
    expect(await overviewLine('ar')).toEqual([
      'violations',
      'آخر تشغيل ليلي: ٠٧\u200f/٠٣\u200f/٢٠٢٦، ٠٢:٠٠؛ مخالفات الثوابت: ٢ (يسمّيها POST /v1/admin/verify).',
    ]);
  });
});
