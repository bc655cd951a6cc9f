import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyConsumptions } from '../../src/jobs/consume.js';
import { reverseConsumption } from '../../src/jobs/reverse.js';
import { subscribe } from '../../src/services/subscriptions.js';
import { verifyInvariants } from '../../src/services/verify.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage } from '../helpers/fixtures.js';

let app: TestApp;
let packages: Array<{ code: string }>;
let creditTypes: Array<{ code: string }>;

beforeAll(async () => {
  app = await startTestApp({ now: '2026-06-01T00:00:00.000Z' });
  creditTypes = [
    await createCreditType(app, { code: 'p-a', decimals: 0 }),
    await createCreditType(app, { code: 'p-b', decimals: 2 }),
  ];
  packages = [
    await createPackage(
      app,
      [
        { credit_type: 'p-a', units: 5 },
        { credit_type: 'p-b', units: '1.5' },
      ],
      { priority: 50 },
    ),
    await createPackage(app, [{ credit_type: 'p-a', units: 3 }], { priority: 10, validity: { count: 7, unit: 'day' } }),
    await createPackage(app, [{ credit_type: 'p-b', units: '2.25' }], { validity: { count: 1, unit: 'year' } }),
  ];
});
afterAll(async () => {
  await app.close();
});

type Step =
  | { kind: 'grant'; pkg: number; startDaysAgo: number }
  | { kind: 'consume'; uses: Array<{ type: number; quantity: number; mode: 'reject' | 'partial'; key: number }> }
  | { kind: 'reverse'; pick: number }
  | { kind: 'advance'; hours: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('grant' as const),
      pkg: fc.integer({ min: 0, max: 2 }),
      startDaysAgo: fc.integer({ min: 0, max: 5 }),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('consume' as const),
      uses: fc.array(
        fc.record({
          type: fc.integer({ min: 0, max: 1 }),
          quantity: fc.integer({ min: 1, max: 400 }),
          mode: fc.constantFrom('reject' as const, 'partial' as const),
          // small key space: repeats of the same key happen, within a batch and across steps
          key: fc.integer({ min: 0, max: 15 }),
        }),
        { minLength: 1, maxLength: 12 },
      ),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('reverse' as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('advance' as const), hours: fc.integer({ min: 1, max: 24 * 5 }) }),
  },
);

describe('the ledger invariants hold after every step of any history', () => {
  it('grants, batched consumptions (with repeated keys), reversals and the passing of time', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 14 }), async (steps) => {
        run += 1;
        app.clock.set('2026-06-01T00:00:00.000Z');
        const client = await createClient(app);
        const consumed: string[] = [];
        const firstAnswer = new Map<string, string>();
        const firstResult = new Map<string, { applied: string; allocations: unknown }>();
        for (const s of steps) {
          if (s.kind === 'grant') {
            const result = await subscribe(
              app.ctx.db,
              {
                client: client.id,
                package: packages[s.pkg]!.code,
                starts_at: new Date(app.clock.now().getTime() - s.startDaysAgo * 86_400_000),
              },
              { now: app.clock.now(), timeZone: 'UTC', actor: 'property' },
            );
            // a start so early that the period is over is refused, and writes nothing
            if (!result.ok) expect(result.code).toBe('validation_failed');
          } else if (s.kind === 'consume') {
            const items = s.uses.map((u) => ({
              jobId: `run${run}-${u.key}`,
              data: {
                client: client.id,
                credit_type: creditTypes[u.type]!.code,
                quantity: u.type === 1 ? (u.quantity / 100).toFixed(2) : String(u.quantity % 7 || 1),
                idempotency_key: `k${u.key}`,
                mode: u.mode,
                accepted_at: app.clock.now().toISOString(),
              },
              enqueuedAt: app.clock.now(),
            }));
            const outcomes = await applyConsumptions(app.ctx, items);
            outcomes.forEach((outcome, i) => {
              const key = items[i]!.data.idempotency_key;
              const payload = JSON.stringify({ ...items[i]!.data, accepted_at: undefined });
              if (!outcome.ok) {
                // the same key with another payload is a conflict, never a second effect
                expect(outcome.code).toBe('idempotency_conflict');
                expect(firstAnswer.get(key)).not.toBe(payload);
                return;
              }
              if (!firstAnswer.has(key)) {
                firstAnswer.set(key, payload);
                firstResult.set(key, { applied: outcome.value.applied, allocations: outcome.value.allocations });
                if (outcome.value.status !== 'rejected') consumed.push(outcome.value.id);
              } else {
                // a repeat answers the first result and changes nothing
                expect(outcome.value.replayed).toBe(true);
                expect({ applied: outcome.value.applied, allocations: outcome.value.allocations }).toEqual(
                  firstResult.get(key),
                );
              }
            });
          } else if (s.kind === 'reverse') {
            if (consumed.length === 0) continue;
            const id = consumed[s.pick % consumed.length]!;
            const result = await reverseConsumption(app.ctx, { consumption_id: id }, `reverse-${id}`, 'property');
            expect(result.ok).toBe(true);
          } else {
            app.clock.advance(s.hours * 3_600_000);
          }
          const report = await verifyInvariants(app.ctx.db);
          expect(report.violations).toEqual([]);
          const negative = await app.ctx.db('balances').where('remaining', '<', 0).count({ n: '*' });
          expect(Number(negative[0]!.n)).toBe(0);
        }
      }),
      { numRuns: 25, endOnFailure: true },
    );
  });
});
