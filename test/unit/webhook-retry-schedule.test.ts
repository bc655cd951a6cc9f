import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { JITTER, jitterUnit, retryDelayMs, retryWindowMs } from '../../src/webhooks/retry-schedule.js';

describe('webhook retries: capped exponential backoff with positive jitter', () => {
  const settings = { firstDelayMs: 2_000, maxDelayMs: 7_200_000 };

  it('doubles from the first delay up to the cap, and jitter only lengthens a delay', () => {
    expect([1, 2, 3, 4].map((n) => retryDelayMs(n, settings, 0))).toEqual([2_000, 4_000, 8_000, 16_000]);
    expect(retryDelayMs(12, settings, 0)).toBe(4_096_000);
    expect(retryDelayMs(13, settings, 0)).toBe(7_200_000);
    expect(retryDelayMs(40, settings, 0)).toBe(7_200_000);
    expect(retryDelayMs(2_000, settings, 0)).toBe(7_200_000);
    for (const u of [0, 0.25, 0.5, 0.999, 1]) {
      for (const n of [1, 5, 13, 30]) {
        const base = retryDelayMs(n, settings, 0);
        const delay = retryDelayMs(n, settings, u);
        expect(delay).toBeGreaterThanOrEqual(base);
        expect(delay).toBeLessThan(base * (1 + JITTER));
        expect(Number.isInteger(delay)).toBe(true);
      }
    }
  });

  it('the default settings retry for at least 24 hours before the delivery fails', () => {
    const config = loadConfig({});
    const defaults = { firstDelayMs: config.WEBHOOK_BACKOFF_MS, maxDelayMs: config.WEBHOOK_BACKOFF_MAX_MS };
    expect(defaults).toEqual(settings);
    expect(config.WEBHOOK_MAX_ATTEMPTS).toBe(24);
    // the arithmetic of src/webhooks/retry-schedule.ts: 8,190 s + 11 × 7,200 s = 87,390 s
    expect(retryWindowMs(config.WEBHOOK_MAX_ATTEMPTS, defaults)).toBe(87_390_000);
    expect(retryWindowMs(config.WEBHOOK_MAX_ATTEMPTS, defaults)).toBeGreaterThanOrEqual(24 * 3_600_000);
    // with jitter the window is longer still, never shorter
    let jittered = 0;
    for (let retry = 1; retry < config.WEBHOOK_MAX_ATTEMPTS; retry += 1)
      jittered += retryDelayMs(retry, defaults, jitterUnit('0190e5c5-0000-7000-8000-000000000001', retry));
    expect(jittered).toBeGreaterThanOrEqual(87_390_000);
    // and one attempt fewer would not be enough: the default is the smallest that is
    expect(retryWindowMs(config.WEBHOOK_MAX_ATTEMPTS - 1, defaults)).toBeLessThan(24 * 3_600_000);
  });

  it('the jitter is fixed by the delivery and the retry, spread between deliveries', () => {
    expect(jitterUnit('a', 1)).toBe(jitterUnit('a', 1));
    const units = Array.from({ length: 200 }, (_, i) => jitterUnit(`delivery-${i}`, 3));
    for (const u of units) {
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThan(1);
    }
    expect(new Set(units).size).toBe(200);
    expect(Math.min(...units)).toBeLessThan(0.1);
    expect(Math.max(...units)).toBeGreaterThan(0.9);
  });
});
