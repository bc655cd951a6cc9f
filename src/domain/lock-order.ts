import type { Lot } from './allocate.js';

/**
 * THE lock order of the system (DOMAIN.md consumption rule 2), written once. A transaction that
 * locks several of these takes them in this order, so that workers, batches and sweeps queue
 * behind each other instead of deadlocking:
 *
 *   1. subscriptions, by id (a transaction that locks a subscription locks it before its balances);
 *   2. a consumption (a reversal), or holds by id (a capture, release or expiry), before the balances they give
 *      back to;
 *   3. balances, by client, then credit type, then spending order (BALANCE_LOCK_KEYS);
 *   4. invoices, then the year's invoice counter (the one row every sale shares, taken last).
 *
 * Balances are the contended rows. Their order is a list of keys: the comparators below and every
 * locking statement under src/db (src/db/lock-order.ts turns the keys into ORDER BY) are made from it.
 */
export const SPENDING_KEYS = ['priority', 'expiresAt', 'validFrom', 'id'] as const satisfies ReadonlyArray<keyof Lot>;
export const BALANCE_LOCK_KEYS = ['clientId', 'creditTypeId', ...SPENDING_KEYS] as const satisfies ReadonlyArray<
  keyof Lot
>;

export type LockKey = (typeof BALANCE_LOCK_KEYS)[number];

type Ordered = Pick<Lot, LockKey>;

function compareBy(keys: readonly LockKey[]) {
  return (a: Ordered, b: Ordered): number => {
    for (const key of keys) {
      const x = a[key];
      const y = b[key];
      const order =
        x instanceof Date && y instanceof Date
          ? x.getTime() - y.getTime()
          : typeof x === 'number' && typeof y === 'number'
            ? x - y
            : x < y
              ? -1
              : x > y
                ? 1
                : 0;
      if (order !== 0) return order;
    }
    return 0;
  };
}

/** Rule 2: priority ascending, then the nearest expiry, then valid_from, then id (a total order). */
export const compareSpendingOrder: (a: Ordered, b: Ordered) => number = compareBy(SPENDING_KEYS);

/** The one lock order of the system for balances: client, then credit type, then spending order. */
export const compareLockOrder: (a: Ordered, b: Ordered) => number = compareBy(BALANCE_LOCK_KEYS);
