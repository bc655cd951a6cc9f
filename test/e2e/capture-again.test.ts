import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../../src/commands/index.js';
import { CreditsProducer } from '../../src/producer/index.js';
import { type Sibling, startSibling, startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';
import { closeVerified } from '../helpers/http-steps.js';

/**
 * A capture sent again (API.md: `POST /v1/holds/{id}/capture` "again → same answer"). Over HTTP a second capture of
 * one hold with another `quantity` answered the first capture — 200, as if its own quantity had been consumed —
 * where the typed producer's was refused (ProducerConflictError). A hold is captured once, at one quantity: the same
 * quantity again answers the first capture (`replayed`); another is another capture, 409 `conflict`, over HTTP and
 * at the worker (a producer's capture job once Redis no longer holds the first one's). No `quantity` stands for its
 * default, all the hold held: `{}` repeats a first capture of all of it, given as a number or not, and the full
 * quantity repeats a first `{}`.
 *
 * Each test's client holds 100 messages; each hold takes 10 of them.
 */
let app: TestApp;
let worker: Sibling | undefined;
let sms: { code: string };
let pkg: { code: string };

beforeAll(async () => {
  // the API alone (the worker is a sibling the tests start and stop); a long wait, for the request left waiting
  app = await startTestApp({ roles: ['api'], now: '2026-06-10T08:00:00.000Z', env: { WAIT_TIMEOUT_MS: '30000' } });
  worker = await startSibling(app, ['worker']);
  sms = await createCreditType(app);
  pkg = await createPackage(app, [{ credit_type: sms.code, units: 100 }]);
});
afterAll(async () => {
  await worker?.stop();
  await closeVerified(app);
});

/** A client of 100 messages, and a hold of 10 of them (90 left). */
async function heldTen(key = 'h') {
  const client = await createClient(app);
  await subscribe(app, client.external_ref, pkg.code);
  const held = await app.request('POST', '/v1/holds?wait=true', {
    key: app.keys.write,
    body: { client: client.id, credit_type: sms.code, quantity: 10, idempotency_key: key },
  });
  expect(held.status, held.text).toBe(200);
  expect(held.body).toMatchObject({ status: 'held', remaining: '90' });
  return { client, hold: held.body.id as string };
}
const capture = (hold: string, body?: Record<string, unknown>) =>
  app.request('POST', `/v1/holds/${hold}/capture`, { key: app.keys.write, ...(body ? { body } : {}) });
/** The same request to another API process of the service. */
const captureAt = async (base: string | undefined, hold: string, body: Record<string, unknown>) => {
  const res = await fetch(`${base}/v1/holds/${hold}/capture`, {
    method: 'POST',
    headers: { authorization: `Bearer ${app.keys.write}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) as Record<string, unknown> };
};
const totals = async (clientId: string) => {
  const res = await app.request('GET', `/v1/clients/${clientId}/balances`, { key: app.keys.read });
  const row = res.body.data.find((r: { credit_type: { code: string } }) => r.credit_type.code === sms.code);
  return { consumed: row.consumed, remaining: row.remaining, held: row.held };
};
const expectConflict = (res: { status: number; body: { code?: string; detail?: string } }, detail: RegExp) => {
  expect(res.status, JSON.stringify(res.body)).toBe(409);
  expect(res.body.code).toBe('conflict');
  expect(res.body.detail).toMatch(detail);
};
/** The answer without `replayed` (a repeat says it is one). */
const unreplayed = (body: { hold: object; consumption: object }) => {
  const { replayed: _h, ...hold } = body.hold as { replayed?: boolean };
  const { replayed: _c, ...consumption } = body.consumption as { replayed?: boolean };
  return { hold, consumption };
};

describe('POST /v1/holds/{id}/capture sent again', () => {
  it('with the same quantity answers the first capture; with another, or none (all 10), 409 conflict', async () => {
    const { client, hold } = await heldTen();
    const first = await capture(hold, { quantity: 4 });
    expect(first.status, first.text).toBe(200);
    // 4 consumed, the other 6 back: 100 − 4 = 96
    expect(first.body.hold).toMatchObject({ status: 'captured', captured: '4', released: '6' });
    const again = await capture(hold, { quantity: 4 });
    expect(again.status, again.text).toBe(200);
    expect(again.body.hold.replayed).toBe(true);
    expect(unreplayed(again.body)).toEqual(unreplayed(first.body));
    // written another way, the same quantity
    expect((await capture(hold, { quantity: '4.0' })).status).toBe(200);
    expectConflict(await capture(hold, { quantity: 5 }), /captured for 4: a capture of 5 is another capture/);
    expectConflict(await capture(hold), /captured for 4: a capture of 10 \(all it held\) is another capture/);
    expectConflict(await capture(hold, {}), /a capture of 10 \(all it held\)/);
    // a quantity no capture could take is bad input first, as for a hold still held
    const tooFine = await capture(hold, { quantity: '4.5' });
    expect(tooFine.status).toBe(422);
    expect((await capture(hold, { quantity: 11 })).status).toBe(422);
    expect(await totals(client.id)).toEqual({ consumed: '4', remaining: '96', held: '0' });
  });

  it('none given takes all it held, and is repeated by none or by the full quantity; a part is 409', async () => {
    const { client, hold } = await heldTen();
    const first = await capture(hold);
    expect(first.status, first.text).toBe(200);
    expect(first.body.hold).toMatchObject({ status: 'captured', captured: '10', released: '0' });
    for (const body of [undefined, {}, { quantity: 10 }, { quantity: '10' }]) {
      const again = await capture(hold, body);
      expect(again.status, `${JSON.stringify(body)}: ${again.text}`).toBe(200);
      expect(unreplayed(again.body)).toEqual(unreplayed(first.body));
    }
    expectConflict(await capture(hold, { quantity: 3 }), /captured for 10: a capture of 3 is another capture/);
    // and the other way round: a first capture of all of it, given as a number, is repeated by none
    const other = await heldTen('h2');
    expect((await capture(other.hold, { quantity: 10 })).status).toBe(200);
    expect((await capture(other.hold)).status).toBe(200);
    expect(await totals(client.id)).toEqual({ consumed: '10', remaining: '90', held: '0' });
  });

  it('a capture waiting for an earlier one of another quantity is answered 409, not that one’s result', async () => {
    const { client, hold } = await heldTen();
    // no worker for a while: the first capture (4) is accepted and waits; an impatient API answers it 202
    await worker?.stop();
    worker = undefined;
    const impatient = await startSibling(app, ['api'], { config: { WAIT_TIMEOUT_MS: 200 } });
    try {
      const first = await captureAt(impatient.baseUrl, hold, { quantity: 4 });
      expect(first.status, first.text).toBe(202);
      // a capture of 7 meets the first one's job (the job id names the hold) and waits for it — or, should the worker
      // apply the first before it is accepted, finds the hold captured: 409 either way, never the first's 200
      const second = capture(hold, { quantity: 7 });
      const same = capture(hold, { quantity: 4 });
      worker = await startSibling(app, ['worker']);
      expectConflict(await second, /captured for 4: a capture of 7 is another capture/);
      const repeated = await same;
      expect(repeated.status, repeated.text).toBe(200);
      expect(repeated.body.hold).toMatchObject({ captured: '4', released: '6' });
    } finally {
      await impatient.stop();
    }
    expect(await totals(client.id)).toEqual({ consumed: '4', remaining: '96', held: '0' });
  });
});

describe("a producer's capture job of another quantity", () => {
  it('is refused with conflict while Redis holds the first, and fails with conflict at the worker after', async () => {
    const { client, hold } = await heldTen();
    const producer = new CreditsProducer({
      connection: app.ctx.redisUrl,
      prefix: app.prefix,
      now: () => app.clock.now(),
    });
    try {
      const first = await producer.capture({ hold_id: hold, quantity: 4 });
      const done = await awaitOutcome(app.ctx, 'capture', first.jobId, { timeoutMs: 20_000 });
      expect(done).toMatchObject({ state: 'completed', value: { hold: { captured: '4' } } });
      // Redis holds the first capture's job: another quantity is refused by the call, with the code the worker and
      // POST /v1/holds/{id}/capture answer it with (another capture of a captured hold), not a reused key's
      await expect(producer.capture({ hold_id: hold, quantity: 5 })).rejects.toMatchObject({
        name: 'ProducerConflictError',
        code: 'conflict',
        message: expect.stringMatching(/^conflict: /),
      });
      // the same quantity while Redis holds it: the same capture, no error
      expect(await producer.capture({ hold_id: hold, quantity: '4.0' })).toEqual({ jobId: first.jobId });
      // once Redis has forgotten it (completed jobs are trimmed), the job is added, and the worker refuses it
      await app.ctx.queues.consumption.remove(first.jobId);
      const other = await producer.capture({ hold_id: hold, quantity: 5 });
      expect(await awaitOutcome(app.ctx, 'capture', other.jobId, { timeoutMs: 20_000 })).toMatchObject({
        state: 'failed',
        failure: { code: 'conflict' },
      });
      // the same quantity is the same capture: answered the first, nothing taken twice
      await app.ctx.queues.consumption.remove(other.jobId);
      const same = await producer.capture({ hold_id: hold, quantity: 4 });
      expect(await awaitOutcome(app.ctx, 'capture', same.jobId, { timeoutMs: 20_000 })).toMatchObject({
        state: 'completed',
        value: { hold: { captured: '4', replayed: true } },
      });
    } finally {
      await producer.close();
    }
    // over HTTP the hold still answers its capture of 4
    expect((await capture(hold, { quantity: 4 })).status).toBe(200);
    expect(await totals(client.id)).toEqual({ consumed: '4', remaining: '96', held: '0' });
  });
  it("with a quantity where Redis holds one that named none (or the reverse) is the worker's to judge", async () => {
    const producer = new CreditsProducer({
      connection: app.ctx.redisUrl,
      prefix: app.prefix,
      now: () => app.clock.now(),
    });
    const outcome = (jobId: string) => awaitOutcome(app.ctx, 'capture', jobId, { timeoutMs: 20_000 });
    try {
      // `{}` first, then the hold's full quantity written out: the same capture (the producer cannot know the size)
      const all = await heldTen();
      const first = await producer.capture({ hold_id: all.hold });
      expect(await outcome(first.jobId)).toMatchObject({ state: 'completed', value: { hold: { captured: '10' } } });
      const full = await producer.capture({ hold_id: all.hold, quantity: '10.00' });
      expect(full.jobId).toBe(`${first.jobId}|10`);
      expect(await outcome(full.jobId)).toMatchObject({
        state: 'completed',
        value: { hold: { captured: '10', replayed: true }, consumption: { quantity: '10', replayed: true } },
      });
      // written otherwise, the same call again: the same job
      expect(await producer.capture({ hold_id: all.hold, quantity: 10 })).toEqual(full);
      // another quantity after `{}`: another capture, refused by the worker as over HTTP
      const four = await producer.capture({ hold_id: all.hold, quantity: 4 });
      expect(await outcome(four.jobId)).toMatchObject({ state: 'failed', failure: { code: 'conflict' } });
      expect(await totals(all.client.id)).toEqual({ consumed: '10', remaining: '90', held: '0' });

      // a quantity first, then `{}`: a repeat when that quantity was all of it, another capture when it was not
      const named = await heldTen();
      const ten = await producer.capture({ hold_id: named.hold, quantity: 10 });
      expect(await outcome(ten.jobId)).toMatchObject({ state: 'completed', value: { hold: { captured: '10' } } });
      const omitted = await producer.capture({ hold_id: named.hold });
      expect(omitted.jobId).toBe(`${ten.jobId}|all`);
      expect(await outcome(omitted.jobId)).toMatchObject({
        state: 'completed',
        value: { hold: { captured: '10', replayed: true } },
      });
      const part = await heldTen();
      const three = await producer.capture({ hold_id: part.hold, quantity: 3 });
      expect(await outcome(three.jobId)).toMatchObject({ state: 'completed', value: { hold: { captured: '3' } } });
      const rest = await producer.capture({ hold_id: part.hold });
      expect(await outcome(rest.jobId)).toMatchObject({ state: 'failed', failure: { code: 'conflict' } });
      expect(await totals(part.client.id)).toEqual({ consumed: '3', remaining: '97', held: '0' });
      // a quantity against another quantity is still the producer's to refuse at once
      await expect(producer.capture({ hold_id: part.hold, quantity: 4 })).rejects.toMatchObject({ code: 'conflict' });
    } finally {
      await producer.close();
    }
  });
});
