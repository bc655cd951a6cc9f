import type { Lot } from './allocate.js';
import { compareSpendingOrder } from './lock-order.js';
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

/**
 * Units of `remaining` that roll over; the rest expire. Never more than `remaining`. `remaining` is
 * everything one subscription leaves of one credit type at one period end (`planRollover`).
 */
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

/** An expiring balance as the rollover plan sees it: what is left, and where it stands in the spending order. */
export type ExpiringLot = Pick<
  Lot,
  'id' | 'clientId' | 'creditTypeId' | 'priority' | 'expiresAt' | 'validFrom' | 'remaining'
>;

export interface LotRollover<L extends ExpiringLot> {
  lot: L;
  /** Units that move to the next period. */
  rolled: Scaled;
  /** Units that expire: `lot.remaining − rolled`. */
  expired: Scaled;
}

/**
 * DOMAIN.md "Edges that must hold": the percent and the cap apply to what ONE subscription rolls over
 * of ONE credit type in ONE renewal, summed over all its expiring balances (package, recharge, earlier
 * rollover) — never per balance, or a package balance and two recharges would roll over three caps.
 * `lots` are those balances (one subscription, one credit type, one period end); `periodUnits` is one
 * period's grant of that credit type, which the cap is a share of. The total is taken from the lots
 * in the spending order (the units that would have been spent first roll over first); every unit of
 * every lot either rolls over or expires. Answers the lots in spending order.
 */
export function planRollover<L extends ExpiringLot>(
  policy: RolloverPolicy,
  lots: readonly L[],
  periodUnits: Scaled,
): Array<LotRollover<L>> {
  const ordered = [...lots].sort(compareSpendingOrder);
  const left = (lot: L): Scaled => (lot.remaining > 0n ? lot.remaining : 0n);
  let unplaced = rolloverAmount(
    policy,
    ordered.reduce((sum, lot) => sum + left(lot), 0n),
    periodUnits,
  );
  return ordered.map((lot) => {
    const rolled = minScaled(unplaced, left(lot));
    unplaced -= rolled;
    return { lot, rolled, expired: left(lot) - rolled };
  });
}
