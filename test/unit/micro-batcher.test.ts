import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MicroBatcher } from '../../src/workers/micro-batcher.js';

class Poison extends Error {}
class Outage extends Error {}

/** Settles every submit of `items` and answers each one's outcome, as the submitters see it. */
async function submitAll(
  batcher: MicroBatcher<number, string>,
  items: number[],
): Promise<Array<{ ok: true; value: string } | { ok: false; error: unknown }>> {
  return Promise.all(
    items.map((item) =>
      batcher.submit(item).then(
        (value) => ({ ok: true as const, value }),
        (error: unknown) => ({ ok: false as const, error }),
      ),
    ),
  );
}

describe('MicroBatcher', () => {
  it('applies items submitted together as one batch, answering each its own outcome in order', async () => {
    const batches: number[][] = [];
    const batcher = new MicroBatcher<number, string>({
      maxSize: 10,
      maxWaitMs: 1_000,
      maxInFlight: 1,
      apply: async (items) => {
        batches.push(items);
        return items.map((i) => `done ${i}`);
      },
    });
    const outcomes = await submitAll(
      batcher,
      Array.from({ length: 10 }, (_, i) => i),
    );
    expect(batches).toEqual([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]]);
    expect(outcomes.map((o) => (o.ok ? o.value : 'failed'))).toEqual(Array.from({ length: 10 }, (_, i) => `done ${i}`));
  });

  it('keeps lanes apart: items of one lane never share a batch with another lane', async () => {
    const batches: number[][] = [];
    const batcher = new MicroBatcher<number, string>({
      maxSize: 100,
      maxWaitMs: 0,
      maxInFlight: 1,
      lanes: 2,
      laneOf: (item) => item % 2,
      apply: async (items) => {
        batches.push(items);
        return items.map(String);
      },
    });
    await submitAll(batcher, [1, 2, 3, 4, 5, 6]);
    for (const batch of batches) expect(new Set(batch.map((i) => i % 2)).size).toBe(1);
    expect(batches.flat().sort()).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('a bad item fails alone: the batch is split until it is isolated, every neighbour is applied once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 64 }),
        fc.uniqueArray(fc.nat({ max: 63 }), { maxLength: 5 }),
        async (size, poisonedAt) => {
          const items = Array.from({ length: size }, (_, i) => i);
          const poisoned = new Set(poisonedAt.filter((i) => i < size));
          const applied: number[] = [];
          const batcher = new MicroBatcher<number, string>({
            // one batch of all of them, flushed at once by its size
            maxSize: size,
            maxWaitMs: 1_000,
            maxInFlight: 1,
            isolate: (error) => error instanceof Poison,
            // all or nothing, like a transaction: one poisoned item fails the whole call
            apply: async (batch) => {
              if (batch.some((i) => poisoned.has(i))) throw new Poison('refused');
              applied.push(...batch);
              return batch.map((i) => `done ${i}`);
            },
          });
          const outcomes = await submitAll(batcher, items);
          outcomes.forEach((outcome, i) => {
            if (poisoned.has(i)) expect(outcome.ok ? 'resolved' : outcome.error).toBeInstanceOf(Poison);
            else expect(outcome).toEqual({ ok: true, value: `done ${i}` });
          });
          expect(applied.sort((a, b) => a - b)).toEqual(items.filter((i) => !poisoned.has(i)));
          await batcher.drain();
          expect(batcher.pending).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('an outage is not split: the whole batch fails once, for its jobs to be retried later', async () => {
    let calls = 0;
    const batcher = new MicroBatcher<number, string>({
      maxSize: 8,
      maxWaitMs: 1_000,
      maxInFlight: 1,
      isolate: (error) => error instanceof Poison,
      apply: async () => {
        calls += 1;
        throw new Outage('database unreachable');
      },
    });
    const outcomes = await submitAll(batcher, [1, 2, 3, 4, 5, 6, 7, 8]);
    expect(calls).toBe(1);
    for (const outcome of outcomes) expect(outcome.ok ? 'resolved' : outcome.error).toBeInstanceOf(Outage);
  });

  it('without isolate, a throw fails every item of its batch', async () => {
    const batcher = new MicroBatcher<number, string>({
      maxSize: 4,
      maxWaitMs: 1_000,
      maxInFlight: 1,
      apply: async (batch) => {
        if (batch.includes(2)) throw new Poison('refused');
        return batch.map(String);
      },
    });
    const outcomes = await submitAll(batcher, [1, 2, 3, 4]);
    expect(outcomes.every((o) => !o.ok)).toBe(true);
  });
});
