import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveMonth } from '../../src/services/archive.js';
import { verifyInvariants } from '../../src/services/verify.js';
import { NO_NIGHTLY_REPORTS, startTestApp, type TestApp } from '../helpers/app.js';
import { sixMonthsOfHundred } from '../helpers/archive-scene.js';

/**
 * Review finding: the months are by `created_at` (the writer's clock when its job began), the chain of remaining_after
 * by `seq` (the order the writes took the balance's lock). Around a month's end the two can cross: a use dated
 * 23:59:59.990 that waited for the balance's lock behind one dated 00:00:00.010 (or ran on an instance whose clock is
 * a little behind) is written after it, into the month before. Before any archiving verify follows the chain by seq
 * and finds nothing wrong; once that month was archived, its checkpoint's last remaining_after was the later write's
 * and the live month's first entry did not follow from it: verify reported a broken chain and a remaining that
 * disagrees with the ledger, for good, on a ledger that had not changed.
 */
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-01-10T10:00:00.000Z', env: NO_NIGHTLY_REPORTS });
});
afterAll(async () => {
  await app.close();
});

const at = (iso: string) => app.clock.set(iso);

describe('writes crossing the month’s end out of order', () => {
  it('verify finds nothing wrong after the month before is archived, as before', async () => {
    const { client, use } = await sixMonthsOfHundred(app, 'ai');
    await use(5, 'ai-1');
    // written first, dated 1 February; then one dated a few ms before, written after it (into January)
    at('2026-02-01T00:00:00.010Z');
    await use(3, 'ai-2');
    at('2026-01-31T23:59:59.990Z');
    await use(2, 'ai-3');
    at('2026-02-10T10:00:00.000Z');
    await use(1, 'ai-4');
    const live = await app.request('GET', `/v1/clients/${client.id}/balances`, { key: app.keys.read });
    expect(live.body.data[0]).toMatchObject({ remaining: '89', consumed: '11' });
    expect((await verifyInvariants(app.database.db)).violations).toEqual([]);

    at('2026-03-05T10:00:00.000Z');
    const asOf = '2026-02-05T00:00:00.000Z';
    const before = await app.request('GET', `/v1/clients/${client.id}/balances?as_of=${asOf}`, { key: app.keys.read });
    const january = await archiveMonth(app.database.db, '2026-01', app.clock.now());
    expect(january.ok, january.ok ? '' : january.detail).toBe(true);
    expect((await verifyInvariants(app.database.db)).violations).toEqual([]);
    const after = await app.request('GET', `/v1/clients/${client.id}/balances?as_of=${asOf}`, { key: app.keys.read });
    expect(after.body).toEqual(before.body);

    // and once February is archived too (its checkpoint continues January's)
    at('2026-04-05T10:00:00.000Z');
    await use(1, 'ai-5');
    const february = await archiveMonth(app.database.db, '2026-02', app.clock.now());
    expect(february.ok, february.ok ? '' : february.detail).toBe(true);
    expect((await verifyInvariants(app.database.db)).violations).toEqual([]);

    // and a live entry that does not follow from the one before is still found
    const [last] = await app.database.db('ledger_entries').where({ client_id: client.id }).orderBy('seq', 'desc');
    const found = await app.database.db
      .transaction(async (tx) => {
        const { seq: _seq, id: _id, ...entry } = last;
        await tx('ledger_entries').insert({ ...entry, kind: 'adjust', amount: 0, remaining_after: 50 });
        throw Object.assign(new Error('rolled back'), { report: await verifyInvariants(tx) });
      })
      .catch((error: { report?: Awaited<ReturnType<typeof verifyInvariants>> }) => error.report);
    expect(found?.violations.map((v) => v.detail)).toContain(
      '1 ledger entry does not follow from the one before (remaining_after ≠ previous + amount)',
    );
  });
});
