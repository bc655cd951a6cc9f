import { randomInt } from 'node:crypto';

/**
 * Seeded randomness for tests and the chaos run: every shuffle and random choice comes from a seed
 * that is printed, so a failure can be replayed with the same choices.
 */

/** mulberry32: a small seeded PRNG; one seed is one sequence, in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** A uniform shuffle (Fisher–Yates) of a copy of `items`, with the choices of `random`. */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** The default seed, as for the property tests (test/setup/fast-check.ts): the same run each time. */
const DEFAULT_SEED = 20_261_125;

/**
 * The seed of a test's random choices: TEST_SEED when set (a number to replay a run, `random` for
 * a new one each time), else a fixed one. Printed with what it is for, so that a failing run says
 * how to replay it; a test should also put it in its assertion messages.
 */
export function testSeed(what: string): number {
  const given = process.env.TEST_SEED;
  const seed =
    given === undefined || given === '' ? DEFAULT_SEED : given === 'random' ? randomInt(2 ** 31) : Number(given);
  if (!Number.isSafeInteger(seed)) throw new Error(`TEST_SEED must be an integer or "random", not "${given}"`);
  console.info(`[seed] ${what}: ${seed} (replay with TEST_SEED=${seed})`);
  return seed;
}
