import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../../src/commands/index.js';
import { jobIdOf } from '../../src/jobs/definitions.js';
import { verifyInvariants } from '../../src/services/verify.js';
import { startTestApp, type TestApp, type TestResponse } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';
import { untilWaitingForLocks } from '../helpers/lock-waits.js';

/**
 * Issue 13, defect 6 (DOMAIN.md consumption rule 4, API.md Idempotency-Key): the same key with
 * another payload, sent at the same time. Both requests may find no earlier row; before the fix the
 * loser was answered 202 and its payload was enqueued under the winner's job id, so one caller held
 * a 202 that would never be applied. Now exactly one succeeds and the other gets 409
 * `idempotency_conflict` — every time, for consumptions, recharges, renewals and reports.
 */
let app: TestApp;
let sms: { id: string; code: string };
const ROUNDS = 12;

beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-03-10T12:00:00.000Z' });
  sms = await createCreditType(app, { code: 'race-sms' });
});
afterAll(async () => {
  const report = await verifyInvariants(app.database.db);
  expect(report.violations).toEqual([]);
  await app.close();
});

/** The two answers of a pair sent at once, the success first. */
async function pair(a: Promise<TestResponse>, b: Promise<TestResponse>): Promise<[TestResponse, TestResponse]> {
  const [x, y] = await Promise.all([a, b]);
  return x.status < y.status ? [x, y] : [y, x];
}

function expectOneWinner([winner, loser]: [TestResponse, TestResponse], ok: number[]) {
  expect(ok, `${winner.status} ${winner.text}`).toContain(winner.status);
  expect(loser.status, loser.text).toBe(409);
  expect(loser.body.code).toBe('idempotency_conflict');
}

describe('the same key with another payload, at the same time', () => {
  it('consumptions: one is accepted and applied, the other is 409, and only the winner is ever applied', async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 1_000 }]);
    await subscribe(app, client.id, pkg.code);
    for (let round = 0; round < ROUNDS; round += 1) {
      const key = `race-${round}`;
      const wait = round % 2 === 0;
      const send = async (quantity: number) => {
        const res = await app.request('POST', `/v1/consumptions${wait ? '?wait=true' : ''}`, {
          key: app.keys.write,
          body: { client: client.id, credit_type: sms.code, quantity, idempotency_key: key },
        });
        return Object.assign(res, { sent: quantity });
      };
      const answers = await pair(send(1), send(2));
      expectOneWinner(answers, wait ? [200] : [202]);
      const winner = answers[0] as TestResponse & { sent: number };
      const jobId = jobIdOf('consume', { client: client.id, credit_type: sms.code, quantity: 1, idempotency_key: key });
      const outcome = await awaitOutcome(app.ctx, 'consume', jobId, { timeoutMs: 20_000 });
      expect(outcome.state, JSON.stringify(outcome)).toBe('completed');
      // the winner's payload is the one applied, once
      const rows = await app.database.db('consumptions').where({ client_id: client.id, idempotency_key: key });
      expect(rows).toHaveLength(1);
      expect(Number(rows[0].quantity)).toBe(winner.sent);
    }
    expect(await app.database.db('consumptions').where({ client_id: client.id })).toHaveLength(ROUNDS);
    expect(await app.database.db('accepted_jobs')).toHaveLength(0);
  });

  it('a key applied with one body, then two at once with another: both 409, neither answered 200', async () => {
    // The first of the two writes its accepted row and then finds the applied use and refuses itself (taking
    // the row back); the second, meeting that row for a moment, took it for its own request still queued,
    // waited for the job of the key — the applied one — and answered 200 with that use's result. Made to
    // stand still here: the consumptions table is locked while the first has written its row.
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 100 }]);
    await subscribe(app, client.id, pkg.code);
    const use = (quantity: number) => ({ client: client.id, credit_type: sms.code, quantity, idempotency_key: 'k' });
    const send = (quantity: number) =>
      app.request('POST', '/v1/consumptions?wait=true', { key: app.keys.write, body: use(quantity) });
    expect((await send(4)).status).toBe(200);
    const lock = await app.database.db.transaction();
    let first: Promise<TestResponse>;
    let second: Promise<TestResponse>;
    try {
      await lock.raw('LOCK TABLE consumptions IN ACCESS EXCLUSIVE MODE');
      first = send(9);
      await untilWaitingForLocks(app.database.db, 1, { about: 'consumptions' });
      // its row is written (and committed): the second meets it
      const rows = await app.database.db('accepted_jobs').where({ job_id: jobIdOf('consume', use(9)) });
      expect(rows).toHaveLength(1);
      second = send(9);
      await untilWaitingForLocks(app.database.db, 2, { about: 'consumptions' });
    } finally {
      await lock.rollback();
    }
    const answers = await Promise.all([first!, second!]);
    expect(answers.map((res) => res.status)).toEqual([409, 409]);
    for (const res of answers) expect(res.body.code).toBe('idempotency_conflict');
    const applied = await app.database.db('consumptions').where({ client_id: client.id });
    expect(applied.map((row) => Number(row.quantity))).toEqual([4]);
    expect(await app.database.db('accepted_jobs').where({ job_id: jobIdOf('consume', use(9)) })).toHaveLength(0);
  });

  it('recharges: the same Idempotency-Key with another body at once is 409 for one of them', async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }], { recharge_price: 100 });
    const sub = await subscribe(app, client.id, pkg.code);
    for (let round = 0; round < ROUNDS; round += 1) {
      const headers = { 'idempotency-key': `top-up-race-${round}` };
      const send = (price: number) =>
        app.request('POST', `/v1/subscriptions/${sub.id}/recharge?wait=true`, {
          key: app.keys.write,
          body: { price },
          headers,
        });
      const answers = await pair(send(100), send(200));
      expectOneWinner(answers, [200]);
    }
    expect(await app.database.db('recharges').where({ subscription_id: sub.id })).toHaveLength(ROUNDS);
  });

  it(
    'recharges: a key reused with another body after ' + 'the first was applied is 409, with or without ?wait',
    async () => {
      const client = await createClient(app);
      const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
      const sub = await subscribe(app, client.id, pkg.code);
      const headers = { 'idempotency-key': 'applied-then-reused' };
      const first = await app.request('POST', `/v1/subscriptions/${sub.id}/recharge?wait=true`, {
        key: app.keys.write,
        body: { price: 100 },
        headers,
      });
      expect(first.status, first.text).toBe(200);
      for (const path of [`/v1/subscriptions/${sub.id}/recharge`, `/v1/subscriptions/${sub.id}/recharge?wait=true`]) {
        const reused = await app.request('POST', path, { key: app.keys.write, body: { price: 999 }, headers });
        expect(reused.status, reused.text).toBe(409);
        expect(reused.body.code).toBe('idempotency_conflict');
      }
      const repeat = await app.request('POST', `/v1/subscriptions/${sub.id}/recharge?wait=true`, {
        key: app.keys.write,
        body: { price: 100 },
        headers,
      });
      expect(repeat.status, repeat.text).toBe(200);
      expect(repeat.body).toMatchObject({ recharge_id: first.body.recharge_id, replayed: true });
    },
  );

  it(
    'renewals: the same Idempotency-Key asking for the ' + 'period on other terms at once is 409 for one of them',
    async () => {
      for (let round = 0; round < ROUNDS / 2; round += 1) {
        const client = await createClient(app);
        const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
        const sub = await subscribe(app, client.id, pkg.code);
        const headers = { 'idempotency-key': `renew-race-${round}` };
        const send = (body: Record<string, unknown>) =>
          app.request('POST', `/v1/subscriptions/${sub.id}/renew?wait=true`, { key: app.keys.write, body, headers });
        const answers = await pair(send({}), send({ apply_package_changes: true }));
        expectOneWinner(answers, [200]);
        expect(await app.database.db('subscription_periods').where({ subscription_id: sub.id })).toHaveLength(2);
      }
    },
  );

  it('reports: the same Idempotency-Key with another body at once is 409 for one of them', async () => {
    for (let round = 0; round < ROUNDS / 2; round += 1) {
      const headers = { 'idempotency-key': `report-race-${round}` };
      const send = (type: string) =>
        app.request('POST', '/v1/reports', { key: app.keys.write, body: { type, format: 'json' }, headers });
      const answers = await pair(send('subscriptions'), send('balances'));
      expectOneWinner(answers, [202]);
    }
  });
});
