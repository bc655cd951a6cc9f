import type { Period } from './period.js';
import { parseQuantity, percentOf, type Scaled } from './quantity.js';
import { type FieldProblem, fail, ok, type Result } from './result.js';

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

/** What a package gives its balances unless it says otherwise; an operator's grant takes the same. */
export const DEFAULT_PRIORITY = 50;
export const DEFAULT_LOW_BALANCE_PERCENT = 10;

/** An operator's grant of units to a client, as asked (DOMAIN.md balance source `adjustment`). */
export interface AdjustmentGrantRequest {
  creditTypeId: string;
  /** The credit type's decimals: the units may not be finer. */
  decimals: number;
  units: unknown;
  /** Default: `now`. */
  validFrom?: Date | undefined;
  expiresAt: Date;
  priority?: number | undefined;
}

/**
 * The balance an operator's grant creates: its own validity (not a subscription's period), a
 * positive number of units that fits the credit type, an expiry after its start and after `now`
 * (a grant that could never be spent is a mistake, refused rather than written). Every problem is
 * named by its field, all at once.
 */
export function adjustmentGrant(request: AdjustmentGrantRequest, now: Date): Result<BalanceDraft> {
  const problems: FieldProblem[] = [];
  const units = parseQuantity(request.units, request.decimals);
  if (!units.ok) problems.push({ field: 'units', message: units.detail });
  const validFrom = request.validFrom ?? now;
  if (request.expiresAt.getTime() <= validFrom.getTime())
    problems.push({
      field: 'expires_at',
      message: request.validFrom ? 'must be after valid_from' : 'must be after valid_from (now, when not given)',
    });
  else if (request.expiresAt.getTime() <= now.getTime())
    problems.push({ field: 'expires_at', message: 'must be in the future' });
  if (problems.length > 0 || !units.ok)
    return fail('validation_failed', problems.map((p) => `${p.field} ${p.message}`).join('; '), { errors: problems });
  return ok({
    creditTypeId: request.creditTypeId,
    granted: units.value,
    validFrom,
    expiresAt: request.expiresAt,
    priority: request.priority ?? DEFAULT_PRIORITY,
    source: 'adjustment',
    lowThreshold: percentOf(units.value, DEFAULT_LOW_BALANCE_PERCENT),
  });
}
