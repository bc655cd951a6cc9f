import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyClosings, type ClosingOutcome } from '../../src/jobs/hold-closing.js';
import { verifyInvariants } from '../../src/services/verify.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';
import { untilWaitingForLocks } from '../helpers/lock-waits.js';

/**
 * Two closings of one hold at once. A closing reads its holds without locking them and locks the balances they
 * hold units of (src/jobs/hold-closing.ts `applyClosings`): here both read the hold while it is still held, then
 * queue on its balance (held by a transaction of the test's own until both wait), so the second plans on a hold the
 * first has closed by the time it writes. Its write must close nothing, and it must run again and answer as a repeat
 * would.
 */
let app: TestApp;
let sms: { id: string; code: string };
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-03-02T09:00:00.000Z' });
  sms = await createCreditType(app, { code: 'race-sms', unit: 'message' });
});
afterAll(async () => {
  const report = await verifyInvariants(app.database.db);
  expect(report.violations).toEqual([]);
  await app.close();
});

async function heldOnOneBalance(key: string) {
  const client = await createClient(app);
  const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
  const sub = await subscribe(app, client.id, pkg.code, { auto_renew: false });
  const held = await app.request('POST', '/v1/holds?wait=true', {
    key: app.keys.write,
    body: { client: client.id, credit_type: sms.code, quantity: 4, idempotency_key: key },
  });
  expect(held.status, held.text).toBe(200);
  return { holdId: held.body.id as string, balanceId: sub.balances[0]!.id as string };
}

/** Runs the two closings while the balance is locked by the test, and lets them go once both queue on it. */
async function racing(
  balanceId: string,
  first: () => Promise<ClosingOutcome[]>,
  second: () => Promise<ClosingOutcome[]>,
) {
  const blocker = await app.database.db.transaction();
  try {
    await blocker.raw('SELECT 1 FROM balances WHERE id = ? FOR UPDATE', [balanceId]);
    const answers = Promise.all([first(), second()]);
    await untilWaitingForLocks(app.database.db, 2);
    await blocker.commit();
    return (await answers).map((outcomes) => outcomes[0]!);
  } catch (error) {
    await blocker.rollback();
    throw error;
  }
}

async function ledgerKinds(balanceId: string): Promise<string[]> {
  return (await app.database
    .db('ledger_entries')
    .where({ balance_id: balanceId })
    .orderBy('seq')
    .pluck('kind')) as string[];
}

describe('two closings of one hold, both planned while it was held', () => {
  it('a capture and a release: one closes it, the other is refused as after it, and the units move once', async () => {
    const { holdId, balanceId } = await heldOnOneBalance('race-1');
    const now = app.clock.now();
    const [captured, released] = await racing(
      balanceId,
      () => applyClosings(app.ctx, [{ holdId, action: 'capture', quantity: '1', jobId: 'race-capture', askedAt: now }]),
      () => applyClosings(app.ctx, [{ holdId, action: 'release', jobId: 'race-release', askedAt: now }]),
    );
    // whichever wrote first closed it; the other ran again and found it closed: 409, as if it had come after
    const winners = [captured, released].filter((o) => o!.ok);
    expect(winners).toHaveLength(1);
    const loser = [captured, released].find((o) => !o!.ok)!;
    expect(loser.ok ? undefined : loser.code).toBe('conflict');

    const hold = await app.database.db('holds').where({ id: holdId }).first();
    const row = await app.database.db('balances').where({ id: balanceId }).first();
    expect(row.held).toBe(0n);
    if (captured!.ok) {
      expect(hold.status).toBe('captured');
      expect([row.remaining, row.consumed]).toEqual([9n, 1n]);
      expect(await ledgerKinds(balanceId)).toEqual(['grant', 'hold', 'release', 'consume']);
    } else {
      expect(hold.status).toBe('released');
      expect([row.remaining, row.consumed]).toEqual([10n, 0n]);
      expect(await ledgerKinds(balanceId)).toEqual(['grant', 'hold', 'release']);
    }
  });

  it('two captures (two jobs): one consumption, and the second answers the first', async () => {
    const { holdId, balanceId } = await heldOnOneBalance('race-2');
    const now = app.clock.now();
    const [a, b] = await racing(
      balanceId,
      () => applyClosings(app.ctx, [{ holdId, action: 'capture', jobId: 'race-capture-a', askedAt: now }]),
      () => applyClosings(app.ctx, [{ holdId, action: 'capture', jobId: 'race-capture-b', askedAt: now }]),
    );
    expect(a!.ok && b!.ok, JSON.stringify([a, b])).toBe(true);
    const results = [a, b].map((o) =>
      o!.ok ? (o!.value as { consumption: { id: string; replayed?: boolean } }) : null,
    );
    expect(results[0]!.consumption.id).toBe(results[1]!.consumption.id);
    expect(results.filter((r) => r!.consumption.replayed === true)).toHaveLength(1);
    expect(await app.database.db('consumptions').where({ id: results[0]!.consumption.id }).count({ n: '*' })).toEqual([
      { n: 1n },
    ]);
    const row = await app.database.db('balances').where({ id: balanceId }).first();
    expect([row.remaining, row.held, row.consumed]).toEqual([6n, 0n, 4n]);
    expect(await ledgerKinds(balanceId)).toEqual(['grant', 'hold', 'release', 'consume']);
  });
});

describe('the nightly verify, for the reference the database no longer checks (migration 0024)', () => {
  it('reports a captured hold whose consumption does not exist', async () => {
    const { holdId } = await heldOnOneBalance('orphan');
    const captured = await applyClosings(app.ctx, [{ holdId, action: 'capture', jobId: 'orphan-capture' }]);
    expect(captured[0]!.ok).toBe(true);
    expect((await verifyInvariants(app.database.db)).violations).toEqual([]);
    const missing = '00000000-0000-4000-8000-00000000dead';
    await app.database.db('holds').where({ id: holdId }).update({ consumption_id: missing });
    try {
      const report = await verifyInvariants(app.database.db);
      expect(report.violations).toEqual([
        {
          invariant: 'hold_consumption',
          subject: `hold ${holdId}`,
          detail: `it was captured into consumption ${missing}, which does not exist`,
        },
      ]);
      expect(report.violationCount).toBe(1);
    } finally {
      const consumption = captured[0]!.ok ? (captured[0]!.value as { consumption: { id: string } }).consumption.id : '';
      await app.database.db('holds').where({ id: holdId }).update({ consumption_id: consumption });
    }
  });

  it('reads the captured holds a range of ids at a time, and counts those past the listing limit', async () => {
    const holds: Array<{ id: string; consumption: string }> = [];
    for (const key of ['chunk-a', 'chunk-b', 'chunk-c']) {
      const { holdId } = await heldOnOneBalance(key);
      const [captured] = await applyClosings(app.ctx, [{ holdId, action: 'capture', jobId: `${key}-capture` }]);
      if (!captured?.ok) throw new Error(`capture of ${key}: ${JSON.stringify(captured)}`);
      holds.push({ id: holdId, consumption: (captured.value as { consumption: { id: string } }).consumption.id });
    }
    // the first and the last by id lose their consumption: two chunks of one apart, whatever else is captured
    const [first, , last] = [...holds].sort((a, b) => (a.id < b.id ? -1 : 1));
    const missing = (n: number) => `00000000-0000-4000-8000-00000000bad${n}`;
    await app.database
      .db('holds')
      .where({ id: first!.id })
      .update({ consumption_id: missing(1) });
    await app.database
      .db('holds')
      .where({ id: last!.id })
      .update({ consumption_id: missing(2) });
    try {
      const report = await verifyInvariants(app.database.db, { chunk: 1, limit: 1 });
      expect(report.violations).toEqual([
        {
          invariant: 'hold_consumption',
          subject: `hold ${first!.id}`,
          detail: `it was captured into consumption ${missing(1)}, which does not exist`,
        },
      ]);
      expect(report.violationCount).toBe(2);
    } finally {
      for (const hold of [first!, last!])
        await app.database.db('holds').where({ id: hold.id }).update({ consumption_id: hold.consumption });
    }
    expect((await verifyInvariants(app.database.db, { chunk: 1 })).violations).toEqual([]);
  });
});
