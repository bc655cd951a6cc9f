import type { Lot } from './allocate.js';
import { compareSpendingOrder } from './lock-order.js';
import { MS_PER_DAY } from './period.js';
import type { Scaled } from './quantity.js';

/** A usable balance as the forecast walks it (the keys of the lock order, and what is left). */
export type ForecastLot = Pick<
  Lot,
  'id' | 'clientId' | 'creditTypeId' | 'remaining' | 'priority' | 'validFrom' | 'expiresAt'
>;

/** Decimals `burnPerDay` carries beyond the credit type's own (a rate of a whole-unit type is rarely whole). */
export const BURN_EXTRA_DECIMALS = 6;
const BURN_SCALE = 10n ** BigInt(BURN_EXTRA_DECIMALS);

export interface ForecastInput {
  /**
   * The balances a consumption could spend now or later (live, something left; those not valid yet take their turn
   * from their `validFrom`, as a renewed period's do). Any order: they are sorted here.
   */
  lots: readonly ForecastLot[];
  /**
   * Balances that pay for nothing now but will (a frozen subscription's, as its unfreeze will make them: valid
   * from `frozen_until`, expiring later): walked like `lots`, never counted in `remaining`.
   */
  later?: readonly ForecastLot[] | undefined;
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
  /** Σ remaining of the balances usable now (not those valid only later). */
  remaining: Scaled;
  /**
   * netConsumed ÷ windowDays, in millionths of a scaled unit (BURN_EXTRA_DECIMALS more decimals than the credit
   * type's), rounded half up: what `burn_per_day` shows. A rate, not a quantity: 14 units over 30 days is 0.466667 a
   * day, not 0 — the walk drains at the exact fraction either way.
   */
  burnPerDay: bigint;
  /** Whole days the units last (floor); null when the burn is 0. */
  daysUntilEmpty: number | null;
  /**
   * The first instant nothing is left to spend — the last unit spent or expired, or a gap before a balance not valid
   * yet — to the millisecond (floor); null when the burn is 0.
   */
  emptyAt: Date | null;
  expiringUnused: ExpiringUnused[];
}

/**
 * DOMAIN.md "As of / forecast": the daily burn is the net consumption of the last `windowDays`
 * divided by `windowDays`; the balances are walked in the spending order (the order a consumption
 * takes them), from now on at that burn: at each instant the first balance of the order that is
 * valid then and holds something drains. A balance whose `expires_at` comes before its turn
 * expires whole; one that is draining when it expires loses what is left then; a balance valid
 * only later (a renewed period's) takes its turn from its `valid_from` — before the one draining,
 * if the order puts it first. The credit type runs empty at the first instant no balance can pay:
 * everything spent or expired, or a gap before the next balance starts (the walk then goes on from
 * that start, so that later balances' unused units are still counted).
 *
 * Exact: the rate is kept as the fraction netConsumed / (windowDays × MS_PER_DAY) of scaled units per
 * millisecond, and time as τ = elapsed ms × netConsumed; what a balance holds is kept as τ too
 * (scaled units × windowDays × MS_PER_DAY), so that draining it is a subtraction of integers and no
 * float and no rounding enters the walk. Rounding happens only at the edges: the units a balance
 * still holds at its expiry are rounded UP to a scaled unit (at most one scaled unit more is said to
 * expire), `emptyAt` is floored to the millisecond, `daysUntilEmpty` to whole days, and `burnPerDay`
 * — shown only, never used in the walk — rounded half up to a millionth of a scaled unit.
 */
export function forecast(input: ForecastInput): Forecast {
  const now = input.now.getTime();
  const remaining = input.lots.reduce(
    (sum, l) => (l.remaining > 0n && l.validFrom.getTime() <= now ? sum + l.remaining : sum),
    0n,
  );
  const lots = [...input.lots, ...(input.later ?? [])].filter((l) => l.remaining > 0n).sort(compareSpendingOrder);
  const net = input.netConsumed > 0n ? input.netConsumed : 0n;
  const windowDays = BigInt(input.windowDays);
  if (windowDays <= 0n) throw new RangeError(`windowDays must be positive: ${input.windowDays}`);
  const burnPerDay = (2n * net * BURN_SCALE + windowDays) / (2n * windowDays);

  if (net === 0n) {
    const expiringUnused = lots.map((l) => ({ balanceId: l.id, expiresAt: l.expiresAt, units: l.remaining }));
    return { remaining, burnPerDay, daysUntilEmpty: null, emptyAt: null, expiringUnused };
  }

  // Milliseconds of window per unit of net: spending x scaled units takes x × W / net ms, i.e. τ grows by x × W.
  const W = windowDays * BigInt(MS_PER_DAY);
  const tauOf = (at: Date) => BigInt(at.getTime() - now) * net;
  const walk = lots.map((lot) => ({
    lot,
    left: lot.remaining * W,
    startTau: tauOf(lot.validFrom),
    endTau: tauOf(lot.expiresAt),
  }));
  const expiringUnused: ExpiringUnused[] = [];
  let tau = 0n;
  let emptyTau: bigint | null = null;
  for (;;) {
    // balances whose expiry has come with something left: what is left expires (rounded up to a scaled unit)
    for (const w of walk)
      if (w.left > 0n && w.endTau <= tau) {
        expiringUnused.push({ balanceId: w.lot.id, expiresAt: w.lot.expiresAt, units: (w.left + W - 1n) / W });
        w.left = 0n;
      }
    const current = walk.find((w) => w.left > 0n && w.startTau <= tau);
    const nextStart = walk.reduce<bigint | null>(
      (soonest, w) =>
        w.left > 0n && w.startTau > tau && (soonest === null || w.startTau < soonest) ? w.startTau : soonest,
      null,
    );
    if (!current) {
      emptyTau ??= tau;
      if (nextStart === null) break;
      tau = nextStart;
      continue;
    }
    // it drains until it is spent, it expires, or a balance starts that may come before it in the order
    let until = current.endTau;
    if (nextStart !== null && nextStart < until) until = nextStart;
    if (tau + current.left <= until) {
      tau += current.left;
      current.left = 0n;
    } else {
      current.left -= until - tau;
      tau = until;
    }
  }
  // found in the order their expiries come; listed in the spending order (the view's contract), as at no burn
  const rank = new Map(lots.map((l, i) => [l.id, i]));
  expiringUnused.sort((x, y) => (rank.get(x.balanceId) ?? 0) - (rank.get(y.balanceId) ?? 0));
  const elapsedMs = emptyTau / net;
  return {
    remaining,
    burnPerDay,
    daysUntilEmpty: Number(elapsedMs / BigInt(MS_PER_DAY)),
    emptyAt: new Date(now + Number(elapsedMs)),
    expiringUnused,
  };
}
