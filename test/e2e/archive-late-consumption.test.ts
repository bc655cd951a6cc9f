import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveMonth } from '../../src/services/archive.js';
import { verifyInvariants } from '../../src/services/verify.js';
import { NO_NIGHTLY_REPORTS, startTestApp, type TestApp } from '../helpers/app.js';
import { sixMonthsOfHundred } from '../helpers/archive-scene.js';

/**
 * Review finding: verify checks only the consumptions written since the archived months' end (the older ones lost
 * their allocations and `consume` entries to the archive, and the archiving checked them). A consumption written
 * late into an archived month's range (a clock behind) keeps its allocations and entries live, in the DEFAULT
 * partitions (README "Archiving history"), and no archiving ever checks it: verify skipped it too, so a consumption
 * that does not add up went unreported.
 */
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-01-10T10:00:00.000Z', env: NO_NIGHTLY_REPORTS });
});
afterAll(async () => {
  await app.close();
});

describe('a consumption written late into an archived month', () => {
  it('is still checked by verify', async () => {
    const db = app.database.db;
    const { use } = await sixMonthsOfHundred(app, 'alc');
    await use(5, 'alc-1');
    app.clock.set('2026-02-05T10:00:00.000Z');
    const january = await archiveMonth(db, '2026-01', app.clock.now());
    expect(january.ok, january.ok ? '' : january.detail).toBe(true);

    // a writer whose clock is behind: dated 25 January, its rows land in the DEFAULT partitions
    app.clock.set('2026-01-25T10:00:00.000Z');
    const late = await use(3, 'alc-2');
    const where = await db.raw<{ rows: Array<{ t: string }> }>(
      `SELECT tableoid::regclass::text AS t FROM consumption_allocations WHERE consumption_id = ?`,
      [late],
    );
    expect(where.rows).toEqual([{ t: 'consumption_allocations_default' }]);
    app.clock.set('2026-02-06T10:00:00.000Z');
    expect((await verifyInvariants(db)).violations).toEqual([]);

    // it no longer adds up: verify says so
    await db('consumptions').where({ id: late }).update({ status: 'rejected' });
    expect((await verifyInvariants(db)).violations).toEqual([
      { invariant: 'consumption_ledger', subject: `consumption ${late}`, detail: 'rejected but applied is 3' },
    ]);
    await db('consumptions').where({ id: late }).update({ status: 'applied' });
    expect((await verifyInvariants(db)).violations).toEqual([]);
  });
});
