import type { Period } from './period.js';
import { percentOf, type Scaled } from './quantity.js';

export type BalanceSource = 'package' | 'recharge' | 'rollover' | 'adjustment';

export interface ItemUnits {
  creditTypeId: string;
  units: Scaled;
}

/** A balance about to be created, before it has an id. */
export interface BalanceDraft {
  creditTypeId: string;
  granted: Scaled;
  validFrom: Date;
  expiresAt: Date;
  priority: number;
  source: BalanceSource;
  lowThreshold: Scaled;
}

export interface GrantTerms {
  priority: number;
  /** `balance.low` fires when a balance falls to this share of what it was granted. */
  lowBalancePercent: number;
}

/** One balance per item for the period (DOMAIN.md "Subscribe" and "Renew"). */
export function grantsForPeriod(
  items: readonly ItemUnits[],
  period: Period,
  terms: GrantTerms,
  source: BalanceSource = 'package',
): BalanceDraft[] {
  if (period.end.getTime() <= period.start.getTime()) throw new RangeError('a period must end after it starts');
  return items.map((item) => ({
    creditTypeId: item.creditTypeId,
    granted: item.units,
    validFrom: period.start,
    expiresAt: period.end,
    priority: terms.priority,
    source,
    lowThreshold: percentOf(item.units, terms.lowBalancePercent),
  }));
}
