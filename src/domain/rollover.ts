import { minScaled, percentOf, type Scaled } from './quantity.js';

/**
 * What happens to a balance's unused units when its period ends: `none` (they expire), `all`
 * (they move to the next period), or `percent` of them, optionally capped at `cap_percent` of one
 * period's grant of that item.
 */
export type RolloverPolicy =
  | { policy: 'none' }
  | { policy: 'all' }
  | { policy: 'percent'; percent: number; cap_percent?: number | null };

export const NO_ROLLOVER: RolloverPolicy = { policy: 'none' };

/** Units of `remaining` that roll over; the rest expire. Never more than `remaining`. */
export function rolloverAmount(policy: RolloverPolicy, remaining: Scaled, periodUnits: Scaled): Scaled {
  if (remaining <= 0n) return 0n;
  switch (policy.policy) {
    case 'none':
      return 0n;
    case 'all':
      return remaining;
    case 'percent': {
      const share = percentOf(remaining, policy.percent);
      const capped =
        policy.cap_percent === undefined || policy.cap_percent === null
          ? share
          : minScaled(share, percentOf(periodUnits, policy.cap_percent));
      return minScaled(capped, remaining);
    }
  }
}
