import { randomBytes } from 'node:crypto';
import { CreditsProducer, ProducerConflictError } from '@credits/producer';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { removeTestQueueKeys } from '../helpers/queue-keys.js';

/**
 * README "Pushing jobs directly": a call repeated while Redis holds its first job is the same request when only the
 * writing of a number the service reads as one differs, and another payload under its key throws
 * ProducerConflictError. A recharge's fee is such a number: its fingerprint (src/jobs/recharge.ts) reads 1250 and
 * "1250" alike, so a retry that reads its payload back as text must not be told its own request was another one.
 */
const subscription_id = '01a23f88-9dd1-75aa-a9fd-06ce278588d0';
const prefix = `{t${randomBytes(5).toString('hex')}}`;
let producer: CreditsProducer;
beforeAll(() => {
  producer = new CreditsProducer({ connection: inject('redisUrl'), prefix });
});
afterAll(async () => {
  await producer.close();
  await removeTestQueueKeys(prefix);
});

const conflictOf = async (call: () => Promise<unknown>): Promise<unknown> => {
  try {
    await call();
  } catch (error) {
    return error;
  }
  return undefined;
};

describe('a recharge sent again with its fee written another way is the same request', () => {
  it('price 1250 and "1250": one job, no conflict', async () => {
    const first = await producer.recharge({
      subscription_id,
      idempotency_key: 'top-up-1',
      items: [{ credit_type: 'sms', units: 3 }],
      price: 1250,
    });
    expect(first).toEqual({ jobId: `recharge|${subscription_id}|top-up-1` });
    const again = await producer.recharge({
      subscription_id,
      idempotency_key: 'top-up-1',
      items: [{ credit_type: 'sms', units: 3 }],
      price: '1250',
    });
    expect(again).toEqual(first);
  });

  it('other units or another price under the key is still a conflict', async () => {
    await producer.recharge({
      subscription_id,
      idempotency_key: 'top-up-2',
      items: [{ credit_type: 'sms', units: 3 }],
    });
    const units = await conflictOf(() =>
      producer.recharge({ subscription_id, idempotency_key: 'top-up-2', items: [{ credit_type: 'sms', units: 4 }] }),
    );
    expect(units).toBeInstanceOf(ProducerConflictError);
    expect(units).toMatchObject({ code: 'idempotency_conflict' });

    await producer.recharge({ subscription_id, idempotency_key: 'top-up-3', price: 1250 });
    const price = await conflictOf(() =>
      producer.recharge({ subscription_id, idempotency_key: 'top-up-3', price: 125 }),
    );
    expect(price).toBeInstanceOf(ProducerConflictError);
  });
});

describe('a maintenance job of one instant is one request, however the instant is written', () => {
  it('expire as of …Z, …+00:00 or …+03:00 at the same instant: one job, no conflict', async () => {
    const first = await producer.add('expire', { as_of: '2026-03-01T00:00:00.000Z' });
    expect(first).toEqual({ jobId: 'expire|20260301T000000.000Z' });
    // the nightly scheduler's own job of that instant (src/scheduler/nightly.ts writes toISOString) is this one too
    expect(await producer.add('expire', { as_of: '2026-03-01T00:00:00+00:00' })).toEqual(first);
    expect(await producer.add('expire', { as_of: '2026-03-01T03:00:00+03:00' })).toEqual(first);
  });
});

describe('a job is named by its payload as the worker reads it', () => {
  it('a client written with spaces around it names the same use: same job, and a conflict', async () => {
    const use = { credit_type: 'sms', quantity: 1, idempotency_key: 'msg-9' };
    // the schema trims a reference (the worker applies the use of `crm-42`): the job id names that client too
    expect(await producer.consume({ ...use, client: ' crm-42 ' })).toEqual({ jobId: 'consume|crm-42|msg-9' });
    expect(await producer.consume({ ...use, client: 'crm-42' })).toEqual({ jobId: 'consume|crm-42|msg-9' });
    // another quantity under that client's key is another payload: told here, not only in a failed job later
    const other = await conflictOf(() => producer.consume({ ...use, client: 'crm-42', quantity: 2 }));
    expect(other).toBeInstanceOf(ProducerConflictError);
    const hold = { client: 'crm-42 ', credit_type: 'sms', quantity: 1, idempotency_key: 'call-9' };
    expect(await producer.hold(hold)).toEqual({ jobId: 'hold|crm-42|call-9' });
  });
});
