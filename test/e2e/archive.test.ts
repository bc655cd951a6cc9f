import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../../src/commands/index.js';
import { archivedMonths, ensureHistoryPartitions, livePartitions } from '../../src/db/repositories/history.js';
import { expireDue } from '../../src/jobs/expire.js';
import { jobIds } from '../../src/jobs/job-id.js';
import { enqueueNightlyReports } from '../../src/reports/nightly.js';
import { archiveMonth } from '../../src/services/archive.js';
import { verifyInvariants } from '../../src/services/verify.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { runCli } from '../helpers/cli.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';
import { signInToUi, uiPage } from '../helpers/ui-session.js';

// Issue 17 "History that can be archived": months of ledger entries and allocations detached (migration 0018,
// services/archive.ts) while verify, the balances and the hot path go on as before.

let app: TestApp;
let sms: { id: string; code: string };
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-01-10T10:00:00.000Z' });
  sms = await createCreditType(app, { code: 'ar-sms', unit: 'message' });
});
afterAll(async () => {
  const report = await verifyInvariants(app.database.db);
  expect(report.violations).toEqual([]);
  await app.close();
});

const at = (iso: string) => app.clock.set(iso);
const consume = (client: string, quantity: number, key: string) =>
  app.request('POST', '/v1/consumptions?wait=true', {
    key: app.keys.write,
    body: { client, credit_type: sms.code, quantity, idempotency_key: key },
  });
const reverse = (id: string) =>
  app.request('POST', `/v1/consumptions/${id}/reverse?wait=true`, { key: app.keys.write, body: {} });
const balancesOf = async (client: string) => {
  const res = await app.request('GET', `/v1/clients/${client}/balances`, { key: app.keys.read });
  expect(res.status, res.text).toBe(200);
  return res.body;
};
const balancesAsOf = async (client: string, asOf: string) =>
  app.request('GET', `/v1/clients/${client}/balances?as_of=${encodeURIComponent(asOf)}`, { key: app.keys.read });
const tableExists = async (name: string) =>
  (await app.database.db.raw<{ rows: Array<{ t: string | null }> }>('SELECT to_regclass(?)::text AS t', [name])).rows[0]
    ?.t === name;
const appendOnlyTriggerOn = async (name: string) =>
  (
    await app.database.db.raw<{ rows: Array<{ n: number }> }>(
      `SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = ?::regclass AND tgname = 'ledger_entries_append_only'`,
      [name],
    )
  ).rows[0]?.n;

describe('archiving a month of history', () => {
  it('detaches the oldest months; verify, balances and the hot path are unchanged', async () => {
    // the nightly expiry sweep makes this month's partitions and the next three's
    await expireDue(app.ctx, app.clock.now());
    const live = (await livePartitions(app.database.db)).map((p) => p.partition);
    for (const m of ['01', '02', '03', '04']) {
      expect(live).toContain(`ledger_entries_y2026m${m}`);
      expect(live).toContain(`consumption_allocations_y2026m${m}`);
    }

    // January: a 6-month grant, two consumptions, a hold open over the month's end
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 100 }], {
      validity: { count: 6, unit: 'month' },
    });
    const sub = await subscribe(app, client.id, pkg.code, { auto_renew: false });
    const balanceId = sub.balances[0]!.id;
    const j1 = await consume(client.id, 5, 'jan-1');
    expect(j1.status, j1.text).toBe(200);
    const j2 = await consume(client.id, 3, 'jan-2');
    expect(j2.status, j2.text).toBe(200);
    at('2026-01-31T20:00:00.000Z');
    const held = await app.request('POST', '/v1/holds?wait=true', {
      key: app.keys.write,
      body: {
        client: client.id,
        credit_type: sms.code,
        quantity: 4,
        idempotency_key: 'h1',
        expires_in_seconds: 86_400 * 5,
      },
    });
    expect(held.status, held.text).toBe(200);

    // February: the hold released, a consumption, January's second consumption reversed
    at('2026-02-02T09:00:00.000Z');
    const released = await app.request('POST', `/v1/holds/${held.body.id}/release`, { key: app.keys.write });
    expect(released.status, released.text).toBe(200);
    expect((await consume(client.id, 2, 'feb-1')).status).toBe(200);
    const reversed = await reverse(j2.body.id);
    expect(reversed.status, reversed.text).toBe(200);

    // March
    at('2026-03-05T12:00:00.000Z');
    const before = await balancesOf(client.id);
    expect(before.data[0]).toMatchObject({ remaining: '93', consumed: '7', held: '0' });
    expect((await verifyInvariants(app.database.db)).violations).toEqual([]);

    // refused: not YYYY-MM, not ended, not the oldest live month, nothing changed
    expect(await archiveMonth(app.database.db, '2026-1', app.clock.now())).toMatchObject({
      ok: false,
      code: 'validation_failed',
    });
    expect(await archiveMonth(app.database.db, '2026-03', app.clock.now())).toMatchObject({
      ok: false,
      code: 'conflict',
      detail: '2026-03 has not ended yet',
    });
    const tooEarly = await archiveMonth(app.database.db, '2026-02', app.clock.now());
    expect(tooEarly).toMatchObject({ ok: false, code: 'conflict' });
    expect(!tooEarly.ok && tooEarly.detail).toMatch(/older than 2026-02 is still live \(from 2026-01\)/);
    expect(await tableExists('ledger_entries_y2026m02')).toBe(true);

    const instants = ['2026-02-01T00:00:00.000Z', '2026-02-01T12:00:00.000Z', '2026-02-20T00:00:00.000Z'];
    const asOfBefore = await Promise.all(instants.map(async (i) => (await balancesAsOf(client.id, i)).body));
    expect(asOfBefore[0].data[0]).toMatchObject({ consumed: '8', held: '4' });
    const january20 = await balancesAsOf(client.id, '2026-01-20T00:00:00.000Z');
    expect(january20.status).toBe(200);

    // January archived: its rows leave the live history, each balance keeps its closing sums
    const january = await archiveMonth(app.database.db, '2026-01', app.clock.now());
    expect(january.ok, january.ok ? '' : january.detail).toBe(true);
    if (!january.ok) return;
    expect(january.value).toMatchObject({
      month: '2026-01',
      ledger_table: 'ledger_entries_y2026m01',
      allocations_table: 'consumption_allocations_y2026m01',
      allocations: 2n,
    });
    expect(january.value.ledger_entries).toBeGreaterThanOrEqual(4n);
    expect(january.value.checkpoints).toBeGreaterThanOrEqual(1);
    const live1 = (await livePartitions(app.database.db)).map((p) => p.partition);
    expect(live1).not.toContain('ledger_entries_y2026m01');
    expect(live1).not.toContain('consumption_allocations_y2026m01');
    expect(await app.database.db('ledger_entries').where({ balance_id: balanceId, kind: 'grant' })).toEqual([]);
    // the detached table keeps the rows for export, and is no longer append-only (the trigger is the parent's)
    const kept = await app.database.db('ledger_entries_y2026m01').count({ n: '*' });
    expect(BigInt(kept[0]!.n as string | number)).toBe(january.value.ledger_entries);
    expect(await appendOnlyTriggerOn('ledger_entries_y2026m01')).toBe(0);
    expect(await appendOnlyTriggerOn('ledger_entries_y2026m02')).toBe(1);
    await expect(app.database.db('ledger_entries').where({ balance_id: balanceId }).delete()).rejects.toThrow(
      /append-only/,
    );
    // archived once, and never made again by the nightly sweep
    expect(await archiveMonth(app.database.db, '2026-01', app.clock.now())).toMatchObject({
      ok: false,
      detail: '2026-01 is archived already',
    });
    expect(
      await ensureHistoryPartitions(app.database.db, {
        since: new Date('2026-01-01T00:00:00.000Z'),
        until: new Date('2026-01-31T00:00:00.000Z'),
      }),
    ).toBe(0);

    // verify starts from the checkpoint: no violation, and the balances answer the same
    const afterJanuary = await verifyInvariants(app.database.db);
    expect(afterJanuary.violations).toEqual([]);
    expect(afterJanuary.checked.balances).toBeGreaterThanOrEqual(1);
    expect(await balancesOf(client.id)).toEqual(before);
    // as of a time since the archived month's end: from the checkpoints, the same answers; before it: refused
    for (const [n, i] of instants.entries()) expect((await balancesAsOf(client.id, i)).body).toEqual(asOfBefore[n]);
    const archivedAsOf = await balancesAsOf(client.id, '2026-01-20T00:00:00.000Z');
    expect(archivedAsOf.status, archivedAsOf.text).toBe(422);
    expect(archivedAsOf.body).toMatchObject({ code: 'validation_failed', errors: [{ field: 'query.as_of' }] });
    // nor is a report's picture of it (the nightly run of an archived day), nor the sum of its uses (the consumption
    // report reads the ledger entries, archived): they fail, saying why; the other ranged ones run (subscription
    // periods stay live)
    const nightOfJanuary = await enqueueNightlyReports(app.ctx, new Date('2026-01-21T12:00:00.000Z'));
    for (const id of nightOfJanuary) await awaitOutcome(app.ctx, 'generate', jobIds.report(id), { timeoutMs: 20_000 });
    const runs = (await app.database
      .db('report_runs')
      .whereIn('id', nightOfJanuary)
      .orderBy('type')
      .select('type', 'status', 'error')) as Array<{ type: string; status: string; error: string | null }>;
    expect(runs.map((r) => [r.type, r.status])).toEqual([
      ['balances', 'failed'],
      ['consumption', 'failed'],
      ['expiring', 'failed'],
      ['renewals', 'done'],
      ['subscriptions', 'failed'],
      ['top_packages', 'done'],
    ]);
    for (const r of runs.filter((x) => x.status === 'failed' && x.type !== 'consumption'))
      expect(r.error).toBe(
        'the history before 2026-02-01T00:00:00.000Z is archived: ' +
          'a picture as of 2026-01-21T00:00:00.000Z cannot be made',
      );
    expect(runs.find((r) => r.type === 'consumption')?.error).toMatch(
      /^the history before 2026-02-01T00:00:00\.000Z is archived: the uses from 2026-01-2\dT\S+ cannot be summed$/,
    );

    // it still finds a balance that disagrees with its (checkpoint + live) ledger
    const tampered = await app.database.db
      .transaction(async (tx) => {
        await tx('balances')
          .where({ id: balanceId })
          .update({ consumed: tx.raw('consumed + 1'), remaining: tx.raw('remaining - 1') });
        const report = await verifyInvariants(tx);
        throw Object.assign(new Error('rolled back'), { report });
      })
      .catch((error: { report?: Awaited<ReturnType<typeof verifyInvariants>> }) => error.report);
    expect(tampered?.violations.map((v) => v.subject)).toContain(`balance ${balanceId}`);

    // the hot path writes on; an archived consumption cannot be reversed (its allocations left with the month)
    const m1 = await consume(client.id, 1, 'mar-1');
    expect(m1.status, m1.text).toBe(200);
    expect(m1.body).toMatchObject({ status: 'applied', allocations: [{ balance_id: balanceId, amount: '1' }] });
    const old = await reverse(j1.body.id);
    expect(old.status, old.text).toBe(409);
    expect(old.body.detail).toMatch(/archived/);
    expect((await verifyInvariants(app.database.db)).violations).toEqual([]);

    // February next: its checkpoint continues January's (the hold released and the reversal of a January use)
    at('2026-04-02T08:00:00.000Z');
    const beforeFebruary = await balancesOf(client.id);
    expect(beforeFebruary.data[0]).toMatchObject({ remaining: '92', consumed: '8' });
    const marchInstants = ['2026-03-01T00:00:00.000Z', '2026-03-20T00:00:00.000Z'];
    const marchBefore = await Promise.all(marchInstants.map(async (i) => (await balancesAsOf(client.id, i)).body));
    const february = await archiveMonth(app.database.db, '2026-02', app.clock.now());
    expect(february.ok, february.ok ? '' : february.detail).toBe(true);
    const report = await verifyInvariants(app.database.db);
    expect(report.violations).toEqual([]);
    expect(await balancesOf(client.id)).toEqual(beforeFebruary);
    for (const [n, i] of marchInstants.entries()) {
      expect((await balancesAsOf(client.id, i)).body).toEqual(marchBefore[n]);
    }
    expect((await balancesAsOf(client.id, instants[2]!)).status).toBe(422);
    expect((await consume(client.id, 2, 'apr-1')).status).toBe(200);
    expect((await verifyInvariants(app.database.db)).violations).toEqual([]);
    expect((await balancesOf(client.id)).data[0]).toMatchObject({ remaining: '90', consumed: '10' });
  });
});

describe('behind a long read of the history', () => {
  it('archiving and making partitions give up instead of queueing every writer behind them', async () => {
    // a long read (a report streaming, a verify): its transaction holds the ledger's partitions
    const reader = await app.database.db.transaction();
    try {
      await reader.raw('SELECT count(*) FROM ledger_entries');
      const refused = await archiveMonth(app.database.db, '2026-03', app.clock.now());
      expect(refused).toMatchObject({ ok: false, code: 'unavailable' });
      expect(await tableExists('ledger_entries_y2026m03')).toBe(true);
      expect((await livePartitions(app.database.db)).map((p) => p.partition)).toContain('ledger_entries_y2026m03');
      await expect(
        ensureHistoryPartitions(app.database.db, {
          since: new Date('2029-01-01T00:00:00.000Z'),
          until: new Date('2029-01-01T00:00:00.000Z'),
        }),
      ).rejects.toMatchObject({ code: '55P03' });
      // meanwhile the hot path writes
      at('2026-04-03T08:00:00.000Z');
      const client = await createClient(app);
      const pkg = await createPackage(app, [{ credit_type: sms.code, units: 5 }]);
      await subscribe(app, client.id, pkg.code, { auto_renew: false });
      expect((await consume(client.id, 1, 'during-read')).status).toBe(200);
    } finally {
      await reader.rollback();
    }
    expect(await tableExists('ledger_entries_y2029m01')).toBe(false);
  });

  it('a verify under way and an archiving exclude each other (its snapshot never sees half of one)', async () => {
    let during: Awaited<ReturnType<typeof archiveMonth>> | undefined;
    const report = await verifyInvariants(app.database.db, {
      between: async (after) => {
        if (after === 'balances' && !during) during = await archiveMonth(app.database.db, '2026-03', app.clock.now());
      },
    });
    expect(during).toMatchObject({ ok: false, code: 'unavailable' });
    expect(report.violations).toEqual([]);
    expect((await livePartitions(app.database.db)).map((p) => p.partition)).toContain('ledger_entries_y2026m03');
  });
});

const cli = (...args: string[]) => runCli(app, ...args);

describe('npm run cli -- archive-month', () => {
  // several CLI processes (tsx): seconds alone, much more beside the whole suite
  it('archives the next month, lists it in `history`, and refuses what it cannot do', {
    timeout: 120_000,
  }, async () => {
    const bad = await cli('archive-month', 'March');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('month must be YYYY-MM');
    // the test above archived January and February; March is the oldest live month now
    const later = await cli('archive-month', '2026-04');
    expect(later.code).toBe(1);
    expect(later.stderr).toContain('history older than 2026-04 is still live (from 2026-03)');
    const march = await cli('archive-month', '2026-03');
    expect(march.code, march.stderr).toBe(0);
    expect(march.stdout).toMatch(/^archived 2026-03: \d+ ledger entries in table ledger_entries_y2026m03, /);
    const history = await cli('history');
    expect(history.code, history.stderr).toBe(0);
    for (const m of ['01', '02', '03'])
      expect(history.stdout).toContain(`archived  2026-${m}: ledger_entries_y2026m${m}`);
    expect(history.stdout).toContain('live      ledger_entries: ledger_entries_y2026m04');
    const verify = await cli('verify');
    expect(verify.code, verify.stdout).toBe(0);
    expect(verify.stdout).toContain('ok: every invariant holds');
  });
});

describe('the overview after archiving', () => {
  it('marks the archived days of its chart as archived, not as days when nothing was consumed', async () => {
    // January to March are archived (above); the chart's 30 days end 2026-04-03: 5–31 March archived,
    // 1–3 April live, with 2 units consumed on 2 April ('apr-1') and 1 on 3 April ('during-read')
    at('2026-04-03T12:00:00.000Z');
    const session = await signInToUi(app.baseUrl, app.keys.admin);
    const overview = await uiPage(app.baseUrl, session, '/ui');
    expect(overview.status).toBe(200);
    expect(overview.html).toContain('data-archived="27"');
    expect(overview.html).toContain('Consumption before 1 Apr 2026 is archived');
    expect(overview.html).not.toContain('Nothing was consumed');
    const tips = [...overview.html.matchAll(/<rect class="bar( archived| zero)?"[^>]*><title>([^<]*)<\/title>/g)].map(
      (m) => `${m[1]?.trim() ?? ''}|${m[2]}`,
    );
    expect(tips).toHaveLength(30);
    expect(tips[0]).toBe('archived|5 Mar 2026: archived');
    expect(tips[26]).toBe('archived|31 Mar 2026: archived');
    // each unit isolated (U+2068 … U+2069): a name the business typed, in text that holds no <bdi>
    expect(tips.slice(27)).toEqual(
      ['zero|1 Apr 2026: 0 message', '|2 Apr 2026: 2 message', '|3 Apr 2026: 1 message'].map((tip) =>
        tip.replace(/message$/, '\u2068message\u2069'),
      ),
    );

    // nothing archived before the chart's days: no band and no note (the 30 days from 30 April are all live)
    at('2026-04-30T12:00:00.000Z');
    const later = await uiPage(app.baseUrl, session, '/ui');
    expect(later.html).not.toContain('data-archived');
    expect(later.html).not.toContain('class="bar archived"');
  });
});

describe('months in calendar order, empty ones too', () => {
  // months go oldest first (each checkpoint sums a balance's whole history up to its month's end, and the live
  // history is what follows the latest archived month): a month with no rows is still a month of it
  it('archives no month while an older one is live, however empty, nor one older than an archived month', {
    timeout: 120_000,
  }, async () => {
    const db = app.database.db;
    // April holds rows (the tests above); the sweep of 1 May makes May to August, which stay empty
    at('2026-05-01T00:30:00.000Z');
    await expireDue(app.ctx, app.clock.now());
    at('2026-07-02T09:00:00.000Z');
    const now = app.clock.now();
    expect((await livePartitions(db)).map((p) => p.partition)).toContain('ledger_entries_y2026m05');
    expect(await archiveMonth(db, '2026-06', now)).toMatchObject({
      ok: false,
      code: 'conflict',
      detail: 'history older than 2026-06 is still live (from 2026-04): archive it first',
    });
    const april = await archiveMonth(db, '2026-04', now);
    expect(april.ok, april.ok ? '' : april.detail).toBe(true);

    // May is live with no row in it: June waits for it all the same
    expect(await archiveMonth(db, '2026-06', now)).toMatchObject({
      ok: false,
      code: 'conflict',
      detail: 'history older than 2026-06 is still live (from 2026-05): archive it first',
    });
    expect(await tableExists('ledger_entries_y2026m06')).toBe(true);
    expect((await livePartitions(db)).map((p) => p.partition)).toContain('ledger_entries_y2026m06');
    const may = await archiveMonth(db, '2026-05', now);
    expect(may).toMatchObject({ ok: true, value: { month: '2026-05', ledger_entries: 0n, allocations: 0n } });
    const june = await archiveMonth(db, '2026-06', now);
    expect(june.ok, june.ok ? '' : june.detail).toBe(true);

    // a month before the archived ones, which never had a partition (nothing happened in it): not archived after them
    expect(await archiveMonth(db, '2025-11', now)).toMatchObject({
      ok: false,
      code: 'conflict',
      detail: '2025-11 is older than 2026-06, the latest month archived: months are archived oldest first',
    });
    expect(await tableExists('ledger_entries_y2025m11')).toBe(false);
    expect(await tableExists('consumption_allocations_y2025m11')).toBe(false);

    // what is archived is a run of months from the oldest, and every live month comes after it
    const archived = (await archivedMonths(db)).map((a) => a.month.toISOString().slice(0, 7));
    expect(archived).toEqual(['2026-01', '2026-02', '2026-03', '2026-04', '2026-05', '2026-06']);
    // (the template database's migration made the months around the real day it ran: later ones, with a gap)
    const liveMonths = [
      ...new Set((await livePartitions(db)).map((p) => /_y(\d{4})m(\d{2})$/.exec(p.partition)?.slice(1).join(''))),
    ];
    expect(liveMonths.at(-1)).toBeUndefined();
    const months = liveMonths.filter((m): m is string => m !== undefined);
    expect(months.slice(0, 2)).toEqual(['202607', '202608']);
    expect(months).toEqual([...months].sort());
    expect((await verifyInvariants(db)).violations).toEqual([]);

    // `history` lists the months in calendar order, the archived (oldest) then the live ones, each table's DEFAULT
    // partition (rows of no month yet) last
    const history = await cli('history');
    expect(history.code, history.stderr).toBe(0);
    expect(history.stdout.trim().split('\n')).toEqual([
      ...['01', '02', '03', '04', '05', '06'].map((m) =>
        expect.stringMatching(new RegExp(`^archived  2026-${m}: ledger_entries_y2026m${m} \\(\\d+ entries\\), `)),
      ),
      ...months.flatMap((m) => [
        `live      ledger_entries: ledger_entries_y${m.slice(0, 4)}m${m.slice(4)}`,
        `live      consumption_allocations: consumption_allocations_y${m.slice(0, 4)}m${m.slice(4)}`,
      ]),
      'live      ledger_entries: ledger_entries_default',
      'live      consumption_allocations: consumption_allocations_default',
    ]);
  });
});
