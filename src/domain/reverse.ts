import type { Allocation } from './allocate.js';
import type { Scaled } from './quantity.js';

/** What a reversal needs to know of each balance an allocation drew from. */
export interface ReversibleLot {
  id: string;
  remaining: Scaled;
  status: 'active' | 'expired' | 'void';
  expiresAt: Date;
  /**
   * Its subscription is frozen and it was still running when the clock stopped: its expiry moves later at unfreeze,
   * so a date past it does not end it (one that had expired before the freeze is not frozen: it stays expired).
   */
  frozen?: boolean;
}

/** The reason of the `expire` entry of a part given back to a balance that is no longer usable (rule 5). */
export const EXPIRED_ON_RETURN = 'given back by a reversal after its balance had expired';

export interface ReturnedPart {
  balanceId: string;
  amount: Scaled;
  remainingAfter: Scaled;
}

export interface ReversalPlan {
  returned: ReturnedPart[];
  /**
   * Parts whose balance has expired or been voided since: not revived — given back and expired there at once (a
   * `reverse` and an `expire` entry).
   */
  expired: Allocation[];
  returnedTotal: Scaled;
  expiredTotal: Scaled;
}

/**
 * DOMAIN.md consumption rule 5: each allocation goes back to its balance; when that balance is no longer usable
 * (expired, void, or past its expiry at `now`) the part is not revived: it is recorded as expired there. A
 * frozen subscription's balance is not past its expiry while frozen: its clock stopped, and its expiry
 * moves later by the frozen time when the freeze ends.
 */
export function planReversal(
  allocations: readonly Allocation[],
  lots: ReadonlyMap<string, ReversibleLot>,
  now: Date,
): ReversalPlan {
  const remaining = new Map<string, Scaled>();
  const returned: ReturnedPart[] = [];
  const expired: Allocation[] = [];
  let returnedTotal = 0n;
  let expiredTotal = 0n;
  for (const allocation of allocations) {
    const lot = lots.get(allocation.balanceId);
    const usable =
      lot !== undefined && lot.status === 'active' && (lot.frozen === true || now.getTime() < lot.expiresAt.getTime());
    if (!usable) {
      expired.push(allocation);
      expiredTotal += allocation.amount;
      continue;
    }
    const after = (remaining.get(lot.id) ?? lot.remaining) + allocation.amount;
    remaining.set(lot.id, after);
    returned.push({ balanceId: lot.id, amount: allocation.amount, remainingAfter: after });
    returnedTotal += allocation.amount;
  }
  return { returned, expired, returnedTotal, expiredTotal };
}
