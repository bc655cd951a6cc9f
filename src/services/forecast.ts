import { DateTime } from 'luxon';
import { z } from 'zod';
import type { AppContext } from '../app-context.js';
import { lockPlaceOf } from '../db/repositories/balances.js';
import { readSpendable } from '../db/repositories/consumptions.js';
import { frozenBalancesOf } from '../db/repositories/freezes.js';
import { netUsed } from '../db/repositories/usage.js';
import { toCreditTypeBrief } from '../domain/credit-type-brief.js';
import { BURN_EXTRA_DECIMALS, forecast } from '../domain/forecast.js';
import { thawedAtFrozenUntil } from '../domain/freeze.js';
import { MS_PER_DAY } from '../domain/period.js';
import { formatQuantity } from '../domain/quantity.js';
import { creditTypeBrief } from '../views/credit-type.js';

/** Later than any balance's valid_from (Postgres and JavaScript both hold it). */
const END_OF_TIME = new Date('9999-12-31T00:00:00.000Z');

export const forecastView = z
  .object({
    credit_type: creditTypeBrief,
    window_days: z.number().int(),
    remaining: z.string().meta({ description: "Usable now (the balances answer's `remaining`)." }),
    burn_per_day: z.string().meta({
      description:
        'Net consumption (consumed − reversed) of the last window_days ÷ window_days: a rate, with 6 decimals more ' +
        'than the credit type\'s (14 messages over 30 days: "0.466667"), rounded half up, trailing zeros ' +
        'dropped. Shown only: the walk uses the exact fraction.',
    }),
    days_until_empty: z
      .number()
      .int()
      .nullable()
      .meta({
        description:
          'Whole days until nothing is left to spend — the last unit spent or expired, or a gap before a later ' +
          "period's balances start (rounded down); null at no burn.",
      }),
    empty_on: z
      .string()
      .nullable()
      .meta({ description: 'The day (YYYY-MM-DD, BUSINESS_TZ) the credit type runs empty; null at no burn.' }),
    empty_at: z.string().nullable().meta({ description: 'The instant it runs empty (RFC 3339); null at no burn.' }),
    expiring_unused: z
      .array(z.object({ balance_id: z.uuid(), expires_at: z.string(), units: z.string() }))
      .meta({ description: 'Balances that will still hold units at their expiry at this burn, in spending order.' }),
  })
  .meta({ id: 'Forecast' });
export type ForecastView = z.infer<typeof forecastView>;

/**
 * GET /v1/clients/{id}/forecast (DOMAIN.md "As of / forecast"): the balances a consumption may spend now or
 * later (the consumption lock's statement, read without a lock, over every instant from now on; and a frozen
 * subscription's, from its frozen_until with its expiries pushed as the unfreeze will push them), the net
 * consumption of the last `windowDays` (by when it happened, in (now − window, now]: read from the consumptions,
 * which an archived month keeps), and the walk of domain/forecast.ts.
 */
export async function clientForecast(
  app: AppContext,
  scope: { clientId: string; creditType: { id: string; code: string; unit: string; decimals: number } },
  windowDays: number,
): Promise<ForecastView> {
  const now = app.clock.now();
  const [lots, frozen, net] = await Promise.all([
    // valid at some instant from now on: the usable ones and those of a period that starts later (a renewal's)
    readSpendable(app.sql, {
      clientIds: [scope.clientId],
      creditTypeIds: [scope.creditType.id],
      from: now,
      to: END_OF_TIME,
    }),
    // a frozen subscription's: spendable again from its frozen_until, its expiries pushed (DOMAIN.md "Freeze")
    frozenBalancesOf(app.db, scope.clientId, scope.creditType.id),
    netUsed(app.db, {
      clientId: scope.clientId,
      creditTypeId: scope.creditType.id,
      from: new Date(now.getTime() - windowDays * MS_PER_DAY),
      to: now,
    }),
  ]);
  const later = frozen.map((b) =>
    thawedAtFrozenUntil({ ...lockPlaceOf(b), remaining: b.remaining }, b.frozen_at, b.frozen_until),
  );
  const f = forecast({ lots, later, netConsumed: net, windowDays, now });
  const q = (v: bigint) => formatQuantity(v, scope.creditType.decimals);
  return {
    credit_type: toCreditTypeBrief(scope.creditType),
    window_days: windowDays,
    remaining: q(f.remaining),
    burn_per_day: formatQuantity(f.burnPerDay, scope.creditType.decimals + BURN_EXTRA_DECIMALS),
    days_until_empty: f.daysUntilEmpty,
    empty_on: f.emptyAt ? DateTime.fromJSDate(f.emptyAt, { zone: app.config.BUSINESS_TZ }).toISODate() : null,
    empty_at: f.emptyAt?.toISOString() ?? null,
    expiring_unused: f.expiringUnused.map((u) => ({
      balance_id: u.balanceId,
      expires_at: u.expiresAt.toISOString(),
      units: q(u.units),
    })),
  };
}
