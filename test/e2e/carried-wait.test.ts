import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Admitter } from '../../src/commands/admitter.js';
import type { Outcome } from '../../src/commands/outcome.js';
import { consumptionId } from '../../src/ids.js';
import { jobIdOf } from '../../src/jobs/definitions.js';
import type { ConsumptionResult } from '../../src/views/consumption.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';

/**
 * Issue 14, `?wait=true` at 500 requests a second: the waited single uses of a group travel in the group's
 * carrier (src/commands/admitter.ts) and each waiter is answered from the carrier's end (CarriedWatch) — its own
 * whole result, or its own failure with what a typed failure carries, never a neighbour's.
 */
let app: TestApp;
let client: { id: string };
let sms: { code: string };
const now = '2026-04-01T00:00:00.000Z';

beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now });
  sms = await createCreditType(app, { code: 'cw-sms' });
  client = await createClient(app);
  const pkg = await createPackage(app, [{ credit_type: sms.code, units: 100 }]);
  await subscribe(app, client.id, pkg.code);
});
afterAll(async () => {
  await app.close();
});

const command = (key: string, quantity: number, more: { occurred_at?: string } = {}) => ({
  name: 'consume' as const,
  data: { client: client.id, credit_type: sms.code, quantity, idempotency_key: key, accepted_at: now, ...more },
  requestHash: `hash-${key}`,
  subjectId: consumptionId(client.id, key),
});

describe("waited uses in their group's carrier", () => {
  it('answers each waiter its own result or failure from the one carrier', async () => {
    // a group of exactly these four (written once four commands wait), applied in this order: 3 of 100, then 1,000
    // of the 97 left (refused, 903 short), then a use from the future (refused at the worker), then 5
    const admitter = new Admitter(app.ctx, { maxCommands: 4, maxWaitMs: 60_000, maxInFlight: 1 });
    const submitted = await Promise.all([
      admitter.submit([command('cw-a', 3)], { watch: true }),
      admitter.submit([command('cw-short', 1_000)], { watch: true }),
      admitter.submit([command('cw-late', 1, { occurred_at: '2026-05-01T00:00:00.000Z' })], { watch: true }),
      admitter.submit([command('cw-b', 5)], {}),
    ]);
    const admissions = submitted.map((s) => {
      if (!s.ok) throw new Error(s.detail);
      return s.value[0]!;
    });
    // one carrier for the four, naming the three waited
    const carrierIds = await app.database
      .db('accepted_jobs')
      .whereIn(
        'job_id',
        admissions.map((a) => a.jobId),
      )
      .distinct('carrier_job_id');
    expect(carrierIds).toHaveLength(1);
    const carrier = await app.ctx.queues.consumption.getJob(carrierIds[0]!.carrier_job_id as string);
    expect(carrier?.data.waited).toEqual([0, 1, 2]);

    const [a, short, late] = (await Promise.all(admissions.slice(0, 3).map((x) => x.watch!.outcome()))) as Array<
      Outcome<ConsumptionResult>
    >;
    expect(a).toMatchObject({
      state: 'completed',
      value: { id: consumptionId(client.id, 'cw-a'), status: 'applied', quantity: '3', idempotency_key: 'cw-a' },
    });
    expect(short).toMatchObject({
      state: 'completed',
      value: { id: consumptionId(client.id, 'cw-short'), status: 'rejected', quantity: '1000', shortfall: '903' },
    });
    expect(late).toMatchObject({
      state: 'failed',
      failure: {
        code: 'validation_failed',
        detail: 'occurred_at is in the future',
        errors: [{ field: 'occurred_at', message: 'is in the future' }],
      },
    });
    // the uses were applied once, by the carrier; none has a job of its own
    const rows = await app.database.db('consumptions').where({ client_id: client.id }).orderBy('idempotency_key');
    expect(rows.map((r) => [r.idempotency_key, r.status, r.job_id])).toEqual([
      ['cw-a', 'applied', carrier!.id],
      ['cw-b', 'applied', carrier!.id],
      ['cw-short', 'rejected', carrier!.id],
    ]);
    for (const x of admissions) expect(await app.ctx.queues.consumption.getJob(x.jobId)).toBeUndefined();
    expect(admissions[0]!.jobId).toBe(jobIdOf('consume', command('cw-a', 3).data));
  });

  it('answers concurrent ?wait=true requests each with its own consumption', async () => {
    const other = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 30 }]);
    await subscribe(app, other.id, pkg.code);
    // 30 units: the first uses that reach the worker are applied, the rest refused; each answer is its own
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        app.request('POST', '/v1/consumptions?wait=true', {
          key: app.keys.write,
          body: { client: other.id, credit_type: sms.code, quantity: i + 1, idempotency_key: `cw-http-${i}` },
        }),
      ),
    );
    answers.forEach((answer, i) => {
      expect([200, 422]).toContain(answer.status);
      const body = answer.body as { id: string; quantity: string; consumption_status?: string };
      expect(body.id).toBe(consumptionId(other.id, `cw-http-${i}`));
      expect(body.quantity).toBe(String(i + 1));
      if (answer.status === 422) expect(body.consumption_status).toBe('rejected');
    });
    const applied = answers
      .filter((a) => a.status === 200)
      .map((a) => Number((a.body as { quantity: string }).quantity));
    expect(applied.reduce((s, q) => s + q, 0)).toBeLessThanOrEqual(30);
    const stored = await app.database.db('consumptions').where({ client_id: other.id, status: 'applied' });
    expect(stored.map((r) => Number(r.quantity)).sort((x, y) => x - y)).toEqual(applied.sort((x, y) => x - y));
  });
});
