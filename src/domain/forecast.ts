import type { Lot } from './allocate.js';
import { compareSpendingOrder } from './lock-order.js';
import { MS_PER_DAY } from './period.js';
import type { Scaled } from './quantity.js';

/** A usable balance as the forecast walks it (the keys of the lock order, and what is left). */
export type ForecastLot = Pick<
  Lot,
  'id' | 'clientId' | 'creditTypeId' | 'remaining' | 'priority' | 'validFrom' | 'expiresAt'
>;

export interface ForecastInput {
  /** The balances a consumption could spend now (usable, something left). Any order: they are sorted here. */
  lots: readonly ForecastLot[];
  /** Net consumption of the window: Σ consumed − Σ reversed, in scaled units (a negative net counts as 0). */
  netConsumed: Scaled;
  windowDays: number;
  now: Date;
}

export interface ExpiringUnused {
  balanceId: string;
  expiresAt: Date;
  /** Scaled units this balance still holds at its expiry, at the forecast burn. */
  units: Scaled;
}

export interface Forecast {
  /** Σ remaining of the usable balances. */
  remaining: Scaled;
  /** netConsumed ÷ windowDays in scaled units, rounded half up (what `burn_per_day` shows). */
  burnPerDay: Scaled;
  /** Whole days the units last (floor); null when the burn is 0. */
  daysUntilEmpty: number | null;
  /** The instant the last usable unit is spent or expires, to the millisecond (floor); null when the burn is 0. */
  emptyAt: Date | null;
  expiringUnused: ExpiringUnused[];
}

/**
 * DOMAIN.md "As of / forecast": the daily burn is the net consumption of the last `windowDays`
 * divided by `windowDays`; the usable balances are walked in the spending order (the order a
 * consumption takes them), the current one draining at that burn from now on. A balance whose
 * `expires_at` comes before its turn expires whole; one that is draining when it expires loses what
 * is left then; the credit type runs empty when the last balance is spent or expires.
 *
 * Exact: the rate is kept as the fraction netConsumed / (windowDays × MS_PER_DAY) of scaled units per
 * millisecond, and time as τ = elapsed ms × netConsumed (an integer at every step), so no float and
 * no rounding enters the walk. Rounding happens only at the edges: units spent from a balance by
 * its expiry are rounded DOWN to a scaled unit (the unused part rounds up: at most one scaled unit
 * more is said to expire), `emptyAt` is floored to the millisecond, `daysUntilEmpty` to whole days,
 * and `burnPerDay` — shown only, never used in the walk — rounded half up to a scaled unit.
 */
export function forecast(input: ForecastInput): Forecast {
  const lots = [...input.lots].filter((l) => l.remaining > 0n).sort(compareSpendingOrder);
  const remaining = lots.reduce((sum, l) => sum + l.remaining, 0n);
  const net = input.netConsumed > 0n ? input.netConsumed : 0n;
  const windowDays = BigInt(input.windowDays);
  if (windowDays <= 0n) throw new RangeError(`windowDays must be positive: ${input.windowDays}`);
  const burnPerDay = (2n * net + windowDays) / (2n * windowDays);
  const now = input.now.getTime();

  if (net === 0n) {
    const expiringUnused = lots.map((l) => ({ balanceId: l.id, expiresAt: l.expiresAt, units: l.remaining }));
    return { remaining, burnPerDay, daysUntilEmpty: null, emptyAt: null, expiringUnused };
  }

  // Milliseconds of window per unit of net: spending x scaled units takes x × W / net ms, i.e. τ grows by x × W.
  const W = windowDays * BigInt(MS_PER_DAY);
  let tau = 0n;
  const expiringUnused: ExpiringUnused[] = [];
  for (const lot of lots) {
    const expiryTau = BigInt(lot.expiresAt.getTime() - now) * net;
    if (expiryTau <= tau) {
      expiringUnused.push({ balanceId: lot.id, expiresAt: lot.expiresAt, units: lot.remaining });
      continue;
    }
    const spentTau = tau + lot.remaining * W;
    if (spentTau <= expiryTau) {
      tau = spentTau;
      continue;
    }
    const spent = (expiryTau - tau) / W;
    expiringUnused.push({ balanceId: lot.id, expiresAt: lot.expiresAt, units: lot.remaining - spent });
    tau = expiryTau;
  }
  const elapsedMs = tau / net;
  return {
    remaining,
    burnPerDay,
    daysUntilEmpty: Number(elapsedMs / BigInt(MS_PER_DAY)),
    emptyAt: new Date(now + Number(elapsedMs)),
    expiringUnused,
  };
}
