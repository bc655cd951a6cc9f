import { afterAll, beforeAll, expect, it } from 'vitest';
import { livePartitions } from '../../src/db/repositories/history.js';
import { expireDue } from '../../src/jobs/expire.js';
import { archiveMonth } from '../../src/services/archive.js';
import { startTestApp, type TestApp } from '../helpers/app.js';

// Review finding: refuseArchiving (src/domain/history.ts) refuses a month while an older month's partition is live,
// however empty, and refuses a month older than the latest archived one. A store holding both — an empty partition
// of a month before the latest archived month — can archive nothing ever again. It arises on a store archived by the
// release before (it let a month be archived past an older, empty partition: only live rows stopped it), and from an
// expiry sweep as of an older instant (a maintenance `expire` job with an old `as_of`: ensure_history_partitions
// makes every month from the sweep's on that is not archived, the one before the archived ones included).

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-03-10T10:00:00.000Z' });
});
afterAll(async () => {
  await app.close();
});

const monthsLive = async () =>
  (await livePartitions(app.database.db)).filter((p) => p.table === 'ledger_entries').map((p) => p.partition);

it('an empty partition of a month before the latest archived one never stops archiving for good', async () => {
  const db = app.database.db;
  await expireDue(app.ctx, app.clock.now());
  // February never held a row: archived (its partition made for it, then detached)
  const february = await archiveMonth(db, '2026-02', app.clock.now());
  expect(february.ok, february.ok ? '' : february.detail).toBe(true);

  // what the release before could leave behind, and what a sweep as of 20 January makes (a maintenance `expire` job
  // with that `as_of`): January's partition, live and empty, before the archived February
  await expireDue(app.ctx, new Date('2026-01-20T00:00:00.000Z'));
  expect(await monthsLive()).toContain('ledger_entries_y2026m01');

  app.clock.set('2026-04-05T10:00:00.000Z');
  const now = app.clock.now();
  // before the fix: January refused (older than February), March refused (January live), for good
  const january = await archiveMonth(db, '2026-01', now);
  expect(january).toMatchObject({ ok: true, value: { month: '2026-01', ledger_entries: 0n, checkpoints: 0 } });
  expect(await monthsLive()).not.toContain('ledger_entries_y2026m01');
  const march = await archiveMonth(db, '2026-03', now);
  expect(march.ok, march.ok ? '' : march.detail).toBe(true);
});
