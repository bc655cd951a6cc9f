import { randomBytes } from 'node:crypto';
import { CreditsProducer, ProducerValidationError } from '@credits/producer';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createRedis } from '../../src/queue/redis.js';
import { removeTestQueueKeys } from '../helpers/queue-keys.js';

/**
 * What another system meets when it pushes jobs with the typed producer (README "Pushing jobs directly"): a payload
 * the worker would refuse whatever the database holds — a quantity of zero or below, or above 10^15 units
 * (DOMAIN.md "Quantities and money"), a use named by a `hold:` key (those name the consumptions of captures) — is
 * refused by the call itself, naming the field, and nothing reaches Redis. Before, these were enqueued and failed
 * later in a worker, where the caller, who had been told the job was accepted, never looked.
 */
const client = 'crm-42';
const credit_type = 'sms';
const holdId = '01a23f88-9dd1-75aa-a9fd-06ce278588d0';
const prefix = `{t${randomBytes(5).toString('hex')}}`;
const NOON = '2026-03-01T12:00:00.000Z';
let producer: CreditsProducer;
beforeAll(() => {
  producer = new CreditsProducer({ connection: inject('redisUrl'), prefix });
});
afterAll(async () => {
  await producer.close();
  await removeTestQueueKeys(prefix);
});

async function refusal(call: () => Promise<unknown>): Promise<Array<{ field: string; message: string }>> {
  try {
    await call();
  } catch (error) {
    if (error instanceof ProducerValidationError) return error.errors;
    throw error;
  }
  throw new Error('the producer accepted it');
}

describe('the producer refuses what no worker would apply, before it reaches Redis', () => {
  it('a quantity of zero or below, or above 10^15 units, in every job that carries one', async () => {
    const use = { client, credit_type, idempotency_key: 'u-1' };
    for (const quantity of [-1, 0, '0', '0.000', '-2.5', ' -0.01 ', 1e16, '1000000000000000.5'])
      expect(await refusal(() => producer.consume({ ...use, quantity })), String(quantity)).toEqual([
        { field: 'quantity', message: expect.stringMatching(/negative|greater than zero|at most/) },
      ]);
    expect(await refusal(() => producer.hold({ ...use, quantity: -5 }))).toEqual([
      { field: 'quantity', message: 'must not be negative' },
    ]);
    expect(await refusal(() => producer.capture({ hold_id: holdId, quantity: 0 }))).toEqual([
      { field: 'quantity', message: 'must be greater than zero' },
    ]);
    const recharge = { subscription_id: holdId, idempotency_key: 'r-1' };
    expect(await refusal(() => producer.recharge({ ...recharge, items: [{ credit_type, units: -1 }] }))).toEqual([
      { field: 'items.0.units', message: 'must not be negative' },
    ]);
    // (a batch's uses are the worker's to fail one by one, issue 14: test/e2e/walk-14.test.ts)
    // the largest quantity, and the smallest of each kind, still pass the producer's own check
    const passes = [1e15, '1000000000000000', '0.000001', 1];
    for (const [i, quantity] of passes.entries())
      expect(await producer.consume({ ...use, idempotency_key: `ok-${i}`, quantity })).toEqual({
        jobId: `consume|${client}|ok-${i}`,
      });
  });

  it('a use named by a hold: key, alone or among uses sent one by one', async () => {
    const use = { client, credit_type, quantity: 1 };
    const message = expect.stringContaining('must not start with "hold:"');
    expect(await refusal(() => producer.consume({ ...use, idempotency_key: `hold:${holdId}` }))).toEqual([
      { field: 'idempotency_key', message },
    ]);
    expect(await refusal(() => producer.consumeEach([{ ...use, idempotency_key: 'hold:x' }]))).toEqual([
      { field: '0.idempotency_key', message },
    ]);
  });

  it('a report without a type: refused by the compiler, and by the call for a caller without types', async () => {
    // @ts-expect-error the typed producer asks for the report's type (the worker could make nothing of it)
    expect(await refusal(() => producer.generateReport({ format: 'csv' }))).toEqual([
      { field: 'type', message: 'is required' },
    ]);
  });

  it('a use dated more than five minutes ahead of its clock, alone or among uses sent one by one', async () => {
    // the worker refuses such a use (DOMAIN.md consumption rule 4); the producer checks against its own clock
    const clocked = new CreditsProducer({ connection: inject('redisUrl'), prefix, now: () => new Date(NOON) });
    try {
      const use = { client, credit_type, quantity: 1, idempotency_key: 'ahead' };
      const ahead = '2026-03-01T12:05:00.001Z';
      expect(await refusal(() => clocked.consume({ ...use, occurred_at: ahead }))).toEqual([
        { field: 'occurred_at', message: 'is in the future' },
      ]);
      expect(await refusal(() => clocked.consumeEach([use, { ...use, occurred_at: ahead }]))).toEqual([
        { field: '1.occurred_at', message: 'is in the future' },
      ]);
      // five minutes ahead (and an offset other than Z) is within the skew allowed
      const atSkew = { ...use, idempotency_key: 'ok-skew', occurred_at: '2026-03-01T15:05:00+03:00' };
      expect(await clocked.consume(atSkew)).toEqual({ jobId: `consume|${client}|ok-skew` });
    } finally {
      await clocked.close();
    }
  });

  it('nothing refused reached Redis', async () => {
    const redis = createRedis(inject('redisUrl'), 'worker');
    try {
      // the five uses that passed are the only jobs: nothing of the refused calls
      const jobs = (await redis.keys(`${prefix}:*|*`)).filter((k) => !/:(logs|lock)$/.test(k)).sort();
      expect(jobs).toEqual([0, 1, 2, 3, 'skew'].map((i) => `${prefix}:consumption:consume|${client}|ok-${i}`));
    } finally {
      redis.disconnect();
    }
  });
});
