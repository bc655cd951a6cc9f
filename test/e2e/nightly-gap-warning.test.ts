import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScheduler } from '../../src/scheduler/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { logCapture } from '../helpers/log-capture.js';

/**
 * A NIGHTLY_CRON with long gaps (here once a year) makes each nightly run renew what ends before the next one: a
 * monthly subscription's next twelve periods, and their invoices, in one run. The behaviour stays; the scheduler says
 * so in its log once, when it starts (src/jobs/renewal-lookahead.ts longNightlyGap).
 */
const log = logCapture();
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({
    now: '2026-03-01T10:00:00.000Z',
    env: { NIGHTLY_CRON: '0 2 1 1 *', LOG_LEVEL: 'warn' },
    logTo: log.stream,
  });
});
afterAll(async () => {
  await app.close();
});

describe('a scheduler started with a yearly NIGHTLY_CRON', () => {
  it('warns once, at start, how far ahead each nightly run renews', async () => {
    log.clear();
    const scheduler = startScheduler(app.ctx);
    try {
      await scheduler.caughtUp;
      await scheduler.missedNight;
    } finally {
      await scheduler.stop();
    }
    const warnings = log.entries().filter((e) => String(e.msg).startsWith('NIGHTLY_CRON runs up to'));
    expect(warnings).toHaveLength(1);
    // 366 days (a leap year among the runs looked at) and 2 h of slack
    expect(warnings[0]).toMatchObject({
      level: 40,
      nightly: '0 2 1 1 *',
      timeZone: 'UTC',
      gap_hours: 8784,
      renews_ahead_hours: 8786,
    });
    expect(warnings[0]!.msg).toContain('renewed (and invoiced) several times in one run');
  });
});
