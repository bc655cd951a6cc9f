import { createHash } from 'node:crypto';

/**
 * When a failed delivery is tried again: capped exponential backoff with positive jitter. Retry n (n = 1 after the
 * first attempt failed) waits
 *
 *   base = min(cap, first × 2^(n−1));   delay = base + ⌊base × JITTER × u⌋,   u in [0, 1)
 *
 * so the jitter only lengthens a delay (the sum below is a floor) and spreads receivers' retries apart. `u` comes
 * from the delivery id and n (`jitterUnit`): the delay BullMQ waits and the `next_attempt_at` recorded agree, and
 * every delivery has its own.
 *
 * The defaults (WEBHOOK_BACKOFF_MS = 2 s, WEBHOOK_BACKOFF_MAX_MS = 2 h, WEBHOOK_MAX_ATTEMPTS = 24, so 23 retries)
 * retry for more than 24 hours before the endpoint is disabled:
 *   retries 1–12:  2 s × (2^12 − 1)            =  8,190 s   (the 12th waits 2 s × 2^11 = 4,096 s, under the cap)
 *   retries 13–23: 11 × 7,200 s (capped)        = 79,200 s
 *   total without jitter                         = 87,390 s ≈ 24.3 h ≥ 86,400 s = 24 h
 */
export const JITTER = 0.2;

export interface RetrySettings {
  firstDelayMs: number;
  maxDelayMs: number;
}

/** The wait before retry `retry` (1-based), for a jitter unit `u` in [0, 1). */
export function retryDelayMs(retry: number, settings: RetrySettings, u: number): number {
  const exponent = Math.min(Math.max(0, retry - 1), 52);
  const base = Math.min(settings.maxDelayMs, settings.firstDelayMs * 2 ** exponent);
  return base + Math.floor(base * JITTER * Math.min(Math.max(u, 0), 0.999_999));
}

/** A number in [0, 1) fixed by the delivery and the retry: the same every time it is asked. */
export function jitterUnit(deliveryId: string, retry: number): number {
  const digest = createHash('sha256').update(`${deliveryId}:${retry}`).digest();
  return digest.readUInt32BE(0) / 2 ** 32;
}

/** The waits of every retry of `attempts` attempts, without jitter: their sum is the shortest retry window. */
export function retryWindowMs(attempts: number, settings: RetrySettings): number {
  let total = 0;
  for (let retry = 1; retry < attempts; retry += 1) total += retryDelayMs(retry, settings, 0);
  return total;
}

/** The BullMQ backoff type of delivery jobs, computed by the workers' `settings.backoffStrategy`. */
export const WEBHOOK_BACKOFF_TYPE = 'webhook';
