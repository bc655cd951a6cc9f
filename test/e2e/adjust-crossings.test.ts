import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventType } from '../../src/domain/event.js';
import { eventSchemaOf } from '../../src/webhooks/event-schemas.js';
import { NO_NIGHTLY_REPORTS, startTestApp, type TestApp } from '../helpers/app.js';
import { eventsSettled } from '../helpers/events-settled.js';
import { httpSteps } from '../helpers/http-steps.js';

/**
 * README "Webhook events": `balance.low` and `balance.depleted` say that a balance fell to its threshold, or to zero.
 * A receiver that warns a client or stops a service on them must hear it whatever lowered the balance: a use, a hold,
 * and an operator's adjustment too. Before, an adjustment to zero recorded `balance.adjusted` only: no
 * `balance.depleted` ever came, and `balance.low` only from the next nightly notice.
 */
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({
    roles: ['api', 'worker'],
    now: '2026-04-01T00:00:00.000Z',
    env: { ...NO_NIGHTLY_REPORTS, NIGHTLY_CRON: '0 2 * * *', EXPIRE_CRON: '0 3 1 1 *' },
  });
});
afterAll(async () => {
  await app.close();
});
const { ok, clockTo, nightly } = httpSteps(() => app);

interface Listed {
  seq: string;
  type: EventType;
  data: Record<string, unknown>;
}
let seen = '0';
/** The balance events recorded since the last call, each checked against its published schema. */
async function newBalanceEvents(): Promise<Array<[string, Record<string, unknown>]>> {
  // what committed so far listable: the list holds an event back while an older writer runs (the relay, a worker)
  expect(await eventsSettled(app.database.db)).toBe(true);
  const page = (await ok('GET', `/v1/events?after=${seen}&limit=500`)) as { data: Listed[] };
  seen = page.data.at(-1)?.seq ?? seen;
  const events = page.data.filter((e) => ['balance.low', 'balance.depleted'].includes(e.type));
  for (const e of events) expect(eventSchemaOf(e.type).safeParse(e).success, JSON.stringify(e)).toBe(true);
  return events.map((e) => [e.type, e.data]);
}

describe("an operator's adjustment lowers a balance like a use does", () => {
  it('records balance.low at the threshold and balance.depleted at zero, once per crossing', async () => {
    const sms = await ok('POST', '/v1/credit-types', { code: 'sms', name: 'SMS', unit: 'message' }, 201);
    await ok(
      'POST',
      '/v1/packages',
      {
        code: 'p',
        name: 'P',
        price: 100,
        currency: 'USD',
        validity: { count: 1, unit: 'month' },
        items: [{ credit_type: 'sms', units: 10 }],
        low_balance_percent: 50,
        auto_renew: false,
      },
      201,
    );
    await ok('POST', '/v1/clients', { external_ref: 'crm-7', name: 'Seven' }, 201);
    const sub = await ok('POST', '/v1/subscriptions', { client: 'crm-7', package: 'p' }, 201);
    const balance = sub.balances[0].id as string;
    const adjust = (delta: number) => ok('POST', `/v1/balances/${balance}/adjustments`, { delta, reason: 'x' }, 201);
    // the credit type as an object (API.md Shapes), as the balance's own view names it
    const creditType = { id: sms.id, code: 'sms', unit: 'message' };
    const about = {
      balance_id: balance,
      subscription_id: sub.id,
      client_external_ref: 'crm-7',
      credit_type: creditType,
    };
    await newBalanceEvents();

    await adjust(-3); // 10 → 7: above the threshold of 5
    expect(await newBalanceEvents()).toEqual([]);
    await adjust(-3); // 7 → 4
    expect(await newBalanceEvents()).toEqual([
      ['balance.low', expect.objectContaining({ ...about, remaining: '4', threshold: '5', granted: '10' })],
    ]);
    // the nightly notice finds it told already
    await clockTo('2026-04-02T02:00:00.000Z');
    await nightly();
    expect(await newBalanceEvents()).toEqual([]);

    await adjust(-4); // 4 → 0
    expect(await newBalanceEvents()).toEqual([
      ['balance.depleted', expect.objectContaining({ ...about, remaining: '0', granted: '10' })],
    ]);
    await adjust(8); // 0 → 8: nothing falls
    expect(await newBalanceEvents()).toEqual([]);
    await adjust(-8); // 8 → 0: through the threshold and to zero in one step, as a use of 8 would say
    expect(await newBalanceEvents()).toEqual([
      ['balance.low', expect.objectContaining({ remaining: '0', threshold: '5' })],
      ['balance.depleted', expect.objectContaining({ remaining: '0' })],
    ]);
  });
});
