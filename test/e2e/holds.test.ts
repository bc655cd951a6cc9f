import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../../src/commands/index.js';
import { holdId } from '../../src/ids.js';
import { expireDue } from '../../src/jobs/expire.js';
import { applyHolds } from '../../src/jobs/hold.js';
import { closingLane } from '../../src/jobs/hold-lanes.js';
import { CreditsProducer } from '../../src/producer/index.js';
import { verifyInvariants } from '../../src/services/verify.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';

let app: TestApp;
let sms: { id: string; code: string };
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-01-20T12:00:00.000Z' });
  sms = await createCreditType(app, { code: 'h-sms', unit: 'message' });
});
afterAll(async () => {
  const report = await verifyInvariants(app.database.db);
  expect(report.violations).toEqual([]);
  await app.close();
});

const hold = (body: Record<string, unknown>, wait = true) =>
  app.request('POST', `/v1/holds${wait ? '?wait=true' : ''}`, { key: app.keys.write, body });
const capture = (id: string, body?: Record<string, unknown>) =>
  app.request('POST', `/v1/holds/${id}/capture`, { key: app.keys.write, ...(body ? { body } : {}) });
const release = (id: string) => app.request('POST', `/v1/holds/${id}/release`, { key: app.keys.write });
const consume = (body: Record<string, unknown>) =>
  app.request('POST', '/v1/consumptions?wait=true', { key: app.keys.write, body });

interface Row {
  remaining: string;
  consumed: string;
  held: string;
  expired: string;
  balances: Array<{ id: string; remaining: string; held: string; consumed: string; expired: string }>;
}
async function balancesOf(clientId: string): Promise<Row> {
  const res = await app.request('GET', `/v1/clients/${clientId}/balances`, { key: app.keys.read });
  expect(res.status, res.text).toBe(200);
  return res.body.data.find((r: { credit_type: { code: string } }) => r.credit_type.code === sms.code);
}
async function ledgerOf(balanceId: string): Promise<Array<[string, string, string]>> {
  const rows = (await app.database
    .db('ledger_entries')
    .where({ balance_id: balanceId })
    .orderBy('seq')
    .select('kind', 'amount', 'remaining_after')) as Array<{ kind: string; amount: bigint; remaining_after: bigint }>;
  return rows.map((r) => [r.kind, String(r.amount), String(r.remaining_after)]);
}
/**
 * The file's clock is shared and only moves forward (some tests move it by minutes or days): a test reads it and sets
 * its instants relative to it, never assuming where the tests before it (in any order) left it.
 */
const now = () => app.clock.now().getTime();
const iso = (ms: number) => new Date(ms).toISOString();
const DAY_MS = 86_400_000;

/** A month of `units` SMS from `startsAt` (default now), not renewed. */
async function grant(clientId: string, units: number, startsAt?: string) {
  const pkg = await createPackage(app, [{ credit_type: sms.code, units }]);
  return subscribe(app, clientId, pkg.code, { auto_renew: false, ...(startsAt ? { starts_at: startsAt } : {}) });
}

describe('hold, then capture all', () => {
  it('reserves in the spending order, then turns the held units into a consumption once', async () => {
    const client = await createClient(app);
    const sub = await grant(client.id, 10);
    const balance = sub.balances[0]!.id;
    const heldAt = now();
    const held = await hold({ client: client.external_ref, credit_type: sms.code, quantity: 4, idempotency_key: 'h1' });
    expect(held.status, held.text).toBe(200);
    expect(held.body).toMatchObject({
      status: 'held',
      quantity: '4',
      held: '4',
      allocations: [{ balance_id: balance, amount: '4' }],
      remaining: '6',
      expires_at: iso(heldAt + 15 * 60_000),
    });
    expect(await balancesOf(client.id)).toMatchObject({ remaining: '6', consumed: '0', held: '4' });

    const captured = await capture(held.body.id);
    expect(captured.status, captured.text).toBe(200);
    expect(captured.body.hold).toMatchObject({ id: held.body.id, status: 'captured', captured: '4', released: '0' });
    expect(captured.body.consumption).toMatchObject({
      status: 'applied',
      quantity: '4',
      applied: '4',
      allocations: [{ balance_id: balance, amount: '4' }],
      remaining: '6',
    });
    expect(await balancesOf(client.id)).toMatchObject({ remaining: '6', consumed: '4', held: '0' });
    expect(await ledgerOf(balance)).toEqual([
      ['grant', '10', '10'],
      ['hold', '-4', '6'],
      ['release', '4', '10'],
      ['consume', '-4', '6'],
    ]);

    const again = await capture(held.body.id);
    expect(again.status, again.text).toBe(200);
    expect(again.body.consumption.id).toBe(captured.body.consumption.id);
    expect(again.body.hold).toMatchObject({ status: 'captured', captured: '4' });
    const consumption = await app.request('GET', `/v1/consumptions/${captured.body.consumption.id}`, {
      key: app.keys.read,
    });
    expect(consumption.body).toMatchObject({ status: 'applied', applied: '4' });
    const got = await app.request('GET', `/v1/holds/${held.body.id}`, { key: app.keys.read });
    expect(got.body).toMatchObject({ status: 'captured', consumption_id: captured.body.consumption.id });
    // releasing a captured hold is a conflict
    expect((await release(held.body.id)).status).toBe(409);
  });
});

describe('partial capture', () => {
  it("consumes in the hold's order up to the quantity and gives the rest back, exactly", async () => {
    const client = await createClient(app);
    const early = await grant(client.id, 3, iso(now() - 19.5 * DAY_MS)); // ends in about 11 days: spent first
    const later = await grant(client.id, 10, iso(now() - 10.5 * DAY_MS)); // ends in about 20 days
    const a = early.balances[0]!.id;
    const b = later.balances[0]!.id;
    const held = await hold({ client: client.id, credit_type: sms.code, quantity: 8, idempotency_key: 'p1' });
    expect(held.body.allocations).toEqual([
      { balance_id: a, amount: '3' },
      { balance_id: b, amount: '5' },
    ]);
    expect(held.body.remaining).toBe('5');

    const captured = await capture(held.body.id, { quantity: 4 });
    expect(captured.status, captured.text).toBe(200);
    expect(captured.body.consumption.allocations).toEqual([
      { balance_id: a, amount: '3' },
      { balance_id: b, amount: '1' },
    ]);
    expect(captured.body.hold).toMatchObject({ status: 'captured', captured: '4', released: '4', lapsed: '0' });
    expect(captured.body.consumption.remaining).toBe('9');
    const row = await balancesOf(client.id);
    expect(row).toMatchObject({ remaining: '9', consumed: '4', held: '0' });
    expect(row.balances.find((x) => x.id === a)).toMatchObject({ remaining: '0', consumed: '3', held: '0' });
    expect(row.balances.find((x) => x.id === b)).toMatchObject({ remaining: '9', consumed: '1', held: '0' });
    expect(await ledgerOf(a)).toEqual([
      ['grant', '3', '3'],
      ['hold', '-3', '0'],
      ['release', '3', '3'],
      ['consume', '-3', '0'],
    ]);
    expect(await ledgerOf(b)).toEqual([
      ['grant', '10', '10'],
      ['hold', '-5', '5'],
      // all it held comes back in one entry, then the captured unit is consumed
      ['release', '5', '10'],
      ['consume', '-1', '9'],
    ]);
  });

  it('refuses more than the hold holds (422), changes nothing, and a capture after it succeeds', async () => {
    const client = await createClient(app);
    await grant(client.id, 10);
    const held = await hold({ client: client.id, credit_type: sms.code, quantity: 2, idempotency_key: 'p2' });
    const res = await capture(held.body.id, { quantity: 3 });
    expect(res.status, res.text).toBe(422);
    expect(res.body.code).toBe('validation_failed');
    const got = await app.request('GET', `/v1/holds/${held.body.id}`, { key: app.keys.read });
    expect(got.body.status).toBe('held');
    const ok = await capture(held.body.id, { quantity: 2 });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.body.hold).toMatchObject({ status: 'captured', captured: '2', released: '0' });
  });
});

describe('release', () => {
  it('gives everything back once; again answers the same; a capture after it is 409', async () => {
    const client = await createClient(app);
    await grant(client.id, 10);
    const held = await hold({ client: client.id, credit_type: sms.code, quantity: 7, idempotency_key: 'r1' });
    expect(await balancesOf(client.id)).toMatchObject({ remaining: '3', held: '7' });
    const first = await release(held.body.id);
    expect(first.status, first.text).toBe(200);
    expect(first.body).toMatchObject({ status: 'released', released: '7', lapsed: '0', held: '0' });
    const second = await release(held.body.id);
    expect(second.status, second.text).toBe(200);
    expect(second.body).toMatchObject({ id: first.body.id, status: 'released', released: '7' });
    expect(await balancesOf(client.id)).toMatchObject({ remaining: '10', held: '0', consumed: '0' });
    const late = await capture(held.body.id);
    expect(late.status, late.text).toBe(409);
    expect(late.body.code).toBe('conflict');
  });
});

describe('idempotency and refusals', () => {
  it('answers a repeat with the first hold, refuses its key with another body, and refuses a short one', async () => {
    const client = await createClient(app);
    await grant(client.id, 5);
    const body = { client: client.id, credit_type: sms.code, quantity: 2, idempotency_key: 'i1' };
    const first = await hold(body);
    const again = await hold(body);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: first.body.id, status: 'held', replayed: true });
    const other = await hold({ ...body, quantity: 3 });
    expect(other.status).toBe(409);
    expect(other.body.code).toBe('idempotency_conflict');
    const short = await hold({ ...body, idempotency_key: 'i2', quantity: 4 });
    expect(short.status, short.text).toBe(422);
    expect(short.body).toMatchObject({ code: 'insufficient_balance', hold_status: 'rejected', remaining: '3' });
    expect((await capture(short.body.id)).status).toBe(409);
    const tooLong = await hold({ ...body, idempotency_key: 'i3', expires_in_seconds: 7 * 86_400 + 1 });
    expect(tooLong.status).toBe(422);
    expect(tooLong.body.code).toBe('validation_failed');
    expect(await balancesOf(client.id)).toMatchObject({ remaining: '3', held: '2' });
    const list = await app.request('GET', `/v1/holds?client=${client.external_ref}&status=held`, {
      key: app.keys.read,
    });
    expect(list.body.data.map((h: { id: string }) => h.id)).toEqual([first.body.id]);
    // the client's page lists its open holds
    const page = await app.request('GET', `/ui/clients/${client.id}`, { key: app.keys.admin });
    expect(page.status).toBe(200);
    expect(page.text).toContain('Open holds');
    expect(page.text).toContain(`data-hold="${first.body.id}"`);
    expect(page.text).not.toContain(`data-hold="${short.body.id}"`);
  });

  it('applies a duplicated hold job once, in one batch or across two', async () => {
    const client = await createClient(app);
    const sub = await grant(client.id, 10);
    const data = {
      client: client.id,
      credit_type: sms.code,
      quantity: '3',
      idempotency_key: 'dup',
      accepted_at: app.clock.now().toISOString(),
    };
    const item = { jobId: `hold|${client.id}|dup`, data, enqueuedAt: app.clock.now() };
    const [a, b] = await applyHolds(app.ctx, [item, item]);
    const [c] = await applyHolds(app.ctx, [item]);
    for (const outcome of [a, b, c]) expect(outcome?.ok).toBe(true);
    if (!a?.ok || !c?.ok) throw new Error('unreachable');
    expect(c.value).toMatchObject({ id: a.value.id, status: 'held', replayed: true });
    expect(await ledgerOf(sub.balances[0]!.id)).toEqual([
      ['grant', '10', '10'],
      ['hold', '-3', '7'],
    ]);
  });
});

describe('holds still queued', () => {
  it('GET /v1/holds?status=queued lists accepted requests not yet applied, by client; then holds', async () => {
    const client = await createClient(app);
    const other = await createClient(app);
    await grant(client.id, 10);
    const queue = app.ctx.queues.consumption;
    const body = {
      client: client.external_ref,
      credit_type: sms.code,
      quantity: '3.0',
      idempotency_key: 'waits',
      reference: 'cart-9',
      metadata: { branch: 'north' },
    };
    const acceptedAt = iso(now());
    await queue.pause();
    try {
      const accepted = await hold(body, false);
      expect(accepted.status, accepted.text).toBe(202);
      const listed = await app.request('GET', `/v1/holds?status=queued&client=${client.id}`, { key: app.keys.read });
      expect(listed.status, listed.text).toBe(200);
      expect(listed.body.data).toEqual([
        {
          id: accepted.body.id,
          status: 'queued',
          client: { id: client.id, external_ref: client.external_ref },
          credit_type: { id: sms.id, code: sms.code, unit: 'message' },
          quantity: '3',
          idempotency_key: 'waits',
          reference: 'cart-9',
          metadata: { branch: 'north' },
          created_at: acceptedAt,
        },
      ]);
      // named by its external_ref in the request, found by either name of the client; not another client's
      const byRef = await app.request('GET', `/v1/holds?status=queued&client=${client.external_ref}`, {
        key: app.keys.read,
      });
      expect(byRef.body.data.map((h: { id: string }) => h.id)).toEqual([accepted.body.id]);
      const others = await app.request('GET', `/v1/holds?status=queued&client=${other.id}`, { key: app.keys.read });
      expect(others.body.data).toEqual([]);
      const stored = await app.request('GET', `/v1/holds?status=held&client=${client.id}`, { key: app.keys.read });
      expect(stored.body.data).toEqual([]);
    } finally {
      await queue.resume();
    }
    // the same request again, waited for: the worker, resumed, applies the queued one and answers it
    const applied = await hold(body);
    expect(applied.status, applied.text).toBe(200);
    expect(applied.body).toMatchObject({ status: 'held', quantity: '3' });
    const none = await app.request('GET', `/v1/holds?status=queued&client=${client.id}`, { key: app.keys.read });
    expect(none.body.data).toEqual([]);
    const held = await app.request('GET', `/v1/holds?status=held&client=${client.id}`, { key: app.keys.read });
    expect(held.body.data.map((h: { id: string }) => h.id)).toEqual([applied.body.id]);
  });

  it('pages through the queued requests one at a time, each once', async () => {
    const client = await createClient(app);
    await grant(client.id, 10);
    const queue = app.ctx.queues.consumption;
    await queue.pause();
    try {
      const ids: string[] = [];
      for (const key of ['q-1', 'q-2', 'q-3']) {
        const accepted = await hold(
          { client: client.id, credit_type: sms.code, quantity: 1, idempotency_key: key },
          false,
        );
        expect(accepted.status, accepted.text).toBe(202);
        ids.push(accepted.body.id);
      }
      // the requests' acceptance times have microseconds (Postgres's clock); a cursor keeps milliseconds
      await app.database.db.raw(
        `UPDATE accepted_jobs SET accepted_at = '2026-01-20T12:00:00.000Z'::timestamptz + (i * interval '1 ms')
                                                + interval '456 microseconds'
           FROM (SELECT job_id, row_number() OVER (ORDER BY accepted_at) AS i FROM accepted_jobs
                  WHERE subject_id = ANY (?::uuid[])) o
          WHERE accepted_jobs.job_id = o.job_id`,
        [ids],
      );
      const seen: string[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 5; page += 1) {
        const res: { status: number; text: string; body: { data: Array<{ id: string }>; next_cursor: string | null } } =
          await app.request(
            'GET',
            `/v1/holds?status=queued&client=${client.id}&limit=1${cursor ? `&cursor=${cursor}` : ''}`,
            { key: app.keys.read },
          );
        expect(res.status, res.text).toBe(200);
        seen.push(...res.body.data.map((h) => h.id));
        cursor = res.body.next_cursor;
        if (!cursor) break;
      }
      expect(seen).toEqual(ids);
    } finally {
      await queue.resume();
    }
  });
});

describe('the typed producer', () => {
  it('pushes hold, capture and release jobs that the workers apply like the API', async () => {
    const client = await createClient(app);
    await grant(client.id, 10);
    const producer = new CreditsProducer({
      connection: app.ctx.redisUrl,
      prefix: app.prefix,
      now: () => app.clock.now(),
    });
    try {
      const taken = await producer.hold({
        client: client.external_ref,
        credit_type: sms.code,
        quantity: 5,
        idempotency_key: 'prod-1',
      });
      const held = await awaitOutcome(app.ctx, 'hold', taken.jobId, { timeoutMs: 20_000 });
      if (held.state !== 'completed') throw new Error(`hold ${held.state}`);
      expect(held.value).toMatchObject({ status: 'held', quantity: '5', remaining: '5' });
      const captured = await producer.capture({ hold_id: held.value.id, quantity: '2' });
      const answer = await awaitOutcome(app.ctx, 'capture', captured.jobId, { timeoutMs: 20_000 });
      if (answer.state !== 'completed') throw new Error(`capture ${answer.state}`);
      expect(answer.value.hold).toMatchObject({ status: 'captured', captured: '2', released: '3' });
      expect(answer.value.consumption).toMatchObject({ status: 'applied', applied: '2', remaining: '8' });
      const second = await producer.hold({
        client: client.id,
        credit_type: sms.code,
        quantity: 1,
        idempotency_key: 'p2',
      });
      const other = await awaitOutcome(app.ctx, 'hold', second.jobId, { timeoutMs: 20_000 });
      if (other.state !== 'completed') throw new Error(`hold ${other.state}`);
      const released = await producer.release({ hold_id: other.value.id });
      const back = await awaitOutcome(app.ctx, 'release', released.jobId, { timeoutMs: 20_000 });
      expect(back).toMatchObject({ state: 'completed', value: { status: 'released', released: '1' } });
    } finally {
      await producer.close();
    }
    expect(await balancesOf(client.id)).toMatchObject({ remaining: '8', consumed: '2', held: '0' });
  });

  it('records a hold that ended before its worker took it as expired, reserving nothing, and says so', async () => {
    const client = await createClient(app);
    await grant(client.id, 10, new Date(app.clock.now().getTime() - 3_600_000).toISOString());
    // a producer whose clock is 20 minutes behind (a queue backed up for as long): its 15-minute hold has ended
    const producer = new CreditsProducer({
      connection: app.ctx.redisUrl,
      prefix: app.prefix,
      now: () => new Date(app.clock.now().getTime() - 1_200_000),
    });
    try {
      const taken = await producer.hold({
        client: client.id,
        credit_type: sms.code,
        quantity: 4,
        idempotency_key: 'x1',
      });
      const outcome = await awaitOutcome(app.ctx, 'hold', taken.jobId, { timeoutMs: 20_000 });
      if (outcome.state !== 'completed') throw new Error(`hold ${outcome.state}`);
      expect(outcome.value).toMatchObject({ status: 'expired', quantity: '4', held: '0', remaining: '10' });
      expect(outcome.value.allocations).toEqual([]);
      // every door says the same: the read, the balances (nothing reserved, no ledger entry), a capture, a release
      const read = await app.request('GET', `/v1/holds/${outcome.value.id}`, { key: app.keys.read });
      expect(read.body).toMatchObject({ status: 'expired', released: '0', lapsed: '0' });
      expect(await balancesOf(client.id)).toMatchObject({ remaining: '10', held: '0', consumed: '0' });
      const [balance] = (await balancesOf(client.id)).balances;
      expect(await ledgerOf(balance!.id)).toEqual([['grant', '10', '10']]);
      expect((await capture(outcome.value.id, { quantity: 1 })).status).toBe(409);
      expect(await release(outcome.value.id)).toMatchObject({ status: 200, body: { status: 'expired' } });
      const events = await app.request('GET', '/v1/events?type=hold.expired&limit=500', { key: app.keys.read });
      const ended = (events.body.data as Array<{ data: { hold_id: string; released: string; lapsed: string } }>)
        .filter((e) => e.data.hold_id === outcome.value.id)
        .map((e) => [e.data.released, e.data.lapsed]);
      expect(ended).toEqual([['0', '0']]);
    } finally {
      await producer.close();
    }
  });
});

describe('a balance that expires while held', () => {
  it('a capture still succeeds; a release does not revive the units (they expire)', async () => {
    const client = await createClient(app);
    // 31 days that began 30 days and 12 hours ago: the balance expires twelve hours from now
    const expiresAt = now() + DAY_MS / 2;
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }], {
      validity: { count: 31, unit: 'day' },
    });
    const sub = await subscribe(app, client.id, pkg.code, {
      auto_renew: false,
      starts_at: iso(expiresAt - 31 * DAY_MS),
    });
    expect(sub.balances[0]!.expires_at).toBe(iso(expiresAt));
    const balance = sub.balances[0]!.id;
    const day = 86_400;
    const toCapture = await hold({
      client: client.id,
      credit_type: sms.code,
      quantity: 4,
      idempotency_key: 'x1',
      expires_in_seconds: 2 * day,
    });
    const toRelease = await hold({
      client: client.id,
      credit_type: sms.code,
      quantity: 3,
      idempotency_key: 'x2',
      expires_in_seconds: 2 * day,
    });
    expect(toRelease.body.remaining).toBe('3');

    app.clock.set(iso(expiresAt + 3_600_000)); // an hour after the balance expired
    expect((await expireDue(app.ctx, app.clock.now())).ok).toBe(true);
    expect(await balancesOf(client.id)).toMatchObject({ remaining: '0', expired: '3', held: '7' });

    const captured = await capture(toCapture.body.id, { quantity: 3 });
    expect(captured.status, captured.text).toBe(200);
    expect(captured.body.consumption).toMatchObject({
      applied: '3',
      allocations: [{ balance_id: balance, amount: '3' }],
    });
    expect(captured.body.hold).toMatchObject({ captured: '3', released: '0', lapsed: '1' });
    const released = await release(toRelease.body.id);
    expect(released.status, released.text).toBe(200);
    expect(released.body).toMatchObject({ status: 'released', released: '0', lapsed: '3' });
    expect(await balancesOf(client.id)).toMatchObject({ remaining: '0', consumed: '3', expired: '7', held: '0' });
    expect(await ledgerOf(balance)).toEqual([
      ['grant', '10', '10'],
      ['hold', '-4', '6'],
      ['hold', '-3', '3'],
      ['expire', '-3', '0'],
      ['release', '4', '4'],
      ['consume', '-3', '1'],
      ['expire', '-1', '0'],
      ['release', '3', '3'],
      ['expire', '-3', '0'],
    ]);
  });
});

describe('a hold over a frozen subscription', () => {
  it('gives its units back even past the old expiry: a frozen clock does not expire them', async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }], { max_freeze_days: 20 });
    const now = app.clock.now().getTime();
    // the month started 29 days ago: it ends in about a day
    const sub = await subscribe(app, client.id, pkg.code, {
      auto_renew: false,
      starts_at: new Date(now - 29 * 86_400_000).toISOString(),
    });
    const held = await hold({
      client: client.id,
      credit_type: sms.code,
      quantity: 4,
      idempotency_key: 'f1',
      expires_in_seconds: 5 * 86_400,
    });
    expect(held.status, held.text).toBe(200);
    const frozen = await app.request('POST', `/v1/subscriptions/${sub.id}/freeze`, {
      key: app.keys.write,
      body: { days: 10 },
    });
    expect(frozen.status, frozen.text).toBe(200);
    app.clock.set(new Date(now + 3 * 86_400_000).toISOString());
    const released = await release(held.body.id);
    expect(released.status, released.text).toBe(200);
    expect(released.body).toMatchObject({ status: 'released', released: '4', lapsed: '0' });
    expect(await ledgerOf(sub.balances[0]!.id)).toEqual([
      ['grant', '10', '10'],
      ['hold', '-4', '6'],
      ['release', '4', '10'],
    ]);
  });
});

describe('expiry by the sweep', () => {
  it('releases a hold past expires_at with hold.expired; capturing it then is 409', async () => {
    // the holds that tests before this one left open past their end (some move the clock on) are swept first: the
    // sweep below counts this test's hold alone
    expect((await expireDue(app.ctx, app.clock.now())).ok).toBe(true);
    const client = await createClient(app);
    await grant(client.id, 10);
    const held = await hold({
      client: client.id,
      credit_type: sms.code,
      quantity: 6,
      idempotency_key: 'e1',
      expires_in_seconds: 60,
    });
    expect(held.status, held.text).toBe(200);
    app.clock.set(new Date(app.clock.now().getTime() + 120_000).toISOString());
    const swept = await expireDue(app.ctx, app.clock.now());
    expect(swept.ok && swept.value.holds_expired).toBe(1);
    const got = await app.request('GET', `/v1/holds/${held.body.id}`, { key: app.keys.read });
    expect(got.body).toMatchObject({ status: 'expired', released: '6', held: '0' });
    const events = await app.database.db('outbox_events').where({ subject_id: held.body.id }).pluck('type');
    expect(events).toEqual(['hold.expired']);
    expect(await balancesOf(client.id)).toMatchObject({ remaining: '10', held: '0' });
    expect((await capture(held.body.id)).status).toBe(409);
    const again = await release(held.body.id);
    expect(again.status).toBe(200);
    expect(again.body.status).toBe('expired');
    const swept2 = await expireDue(app.ctx, app.clock.now());
    expect(swept2.ok && swept2.value.holds_expired).toBe(0);
  });
});

describe('holds racing consumptions on one balance', () => {
  it('never overspend: held + consumed + remaining = granted, then closings keep it so', async () => {
    const client = await createClient(app);
    const sub = await grant(client.id, 100);
    const requests = Array.from({ length: 60 }, (_, i) =>
      i % 2 === 0
        ? hold({ client: client.id, credit_type: sms.code, quantity: 3, idempotency_key: `race-h${i}` })
        : consume({ client: client.id, credit_type: sms.code, quantity: 2, idempotency_key: `race-c${i}` }),
    );
    const answers = await Promise.all(requests);
    for (const res of answers) expect([200, 422], res.text).toContain(res.status);
    const holds = answers.filter((r, i) => i % 2 === 0 && r.status === 200).map((r) => r.body.id as string);
    const consumed = answers.filter((r, i) => i % 2 === 1 && r.status === 200).length * 2;
    const row = await balancesOf(client.id);
    expect(Number(row.held)).toBe(holds.length * 3);
    expect(Number(row.consumed)).toBe(consumed);
    expect(Number(row.remaining) + Number(row.held) + Number(row.consumed)).toBe(100);
    expect(Number(row.remaining)).toBeLessThan(3); // both kinds kept coming until nothing fit

    // capture half (1 unit of each), release the rest, while more uses arrive
    const closings = await Promise.all([
      ...holds.map((id, i) => (i % 2 === 0 ? capture(id, { quantity: 1 }) : release(id))),
      ...Array.from({ length: 20 }, (_, i) =>
        consume({ client: client.id, credit_type: sms.code, quantity: 1, idempotency_key: `race-after${i}` }),
      ),
    ]);
    for (const res of closings.slice(0, holds.length)) expect(res.status, res.text).toBe(200);
    const after = await balancesOf(client.id);
    expect(after.held).toBe('0');
    expect(Number(after.remaining) + Number(after.consumed)).toBe(100);
    const uses = closings.slice(holds.length).filter((r) => r.status === 200).length;
    expect(Number(after.consumed)).toBe(consumed + Math.ceil(holds.length / 2) + uses);
    expect(sub.balances[0]!.id).toBe(after.balances[0]!.id);
    const report = await verifyInvariants(app.database.db);
    expect(report.violations).toEqual([]);
  });
});

describe('balances as of a past instant', () => {
  it('replays held from the ledger: before the hold, while held, and now (equal to the live answer)', async () => {
    const client = await createClient(app);
    await grant(client.id, 10);
    const t0 = app.clock.now().getTime();
    const at = (ms: number) => new Date(t0 + ms).toISOString();
    app.clock.set(at(60_000));
    const held = await hold({ client: client.id, credit_type: sms.code, quantity: 4, idempotency_key: 'asof-1' });
    expect(held.status, held.text).toBe(200);
    app.clock.set(at(120_000));
    expect((await capture(held.body.id, { quantity: 1 })).status).toBe(200);
    const asOf = async (iso: string) => {
      const res = await app.request('GET', `/v1/clients/${client.id}/balances?as_of=${encodeURIComponent(iso)}`, {
        key: app.keys.read,
      });
      expect(res.status, res.text).toBe(200);
      return res.body.data[0] as Row;
    };
    expect(await asOf(at(30_000))).toMatchObject({ remaining: '10', held: '0', consumed: '0' });
    expect(await asOf(at(90_000))).toMatchObject({ remaining: '6', held: '4', consumed: '0' });
    const live = await balancesOf(client.id);
    expect(live).toMatchObject({ remaining: '9', held: '0', consumed: '1' });
    const now = await asOf(app.clock.now().toISOString());
    expect({ ...now, balances: undefined }).toEqual({ ...live, balances: undefined });
  });
});

describe("a closing's lane (jobs/hold-lanes.ts)", () => {
  it("goes to the hold's client's lane while the hold is open, and forgets it once closed", async () => {
    const client = await createClient(app);
    await grant(client.id, 5);
    const held = await hold({ client: client.id, credit_type: sms.code, quantity: 2, idempotency_key: 'lane-1' });
    expect(held.status, held.text).toBe(200);
    expect(closingLane(held.body.id)).toBe(client.id);
    const refused = await hold({ client: client.id, credit_type: sms.code, quantity: 9, idempotency_key: 'lane-2' });
    expect(refused.body).toMatchObject({ code: 'insufficient_balance', hold_status: 'rejected' });
    // a rejected hold is never closed: nothing to remember
    expect(closingLane(holdId(client.id, 'lane-2'))).toBe(holdId(client.id, 'lane-2'));
    expect((await capture(held.body.id, { quantity: 1 })).status).toBe(200);
    expect(closingLane(held.body.id)).toBe(held.body.id);
  });
});
