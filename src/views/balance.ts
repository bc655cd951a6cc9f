import { z } from 'zod';
import type { BalanceRow } from '../db/repositories/balances.js';
import type { CreditTypeRow } from '../db/repositories/credit-types.js';
import { AVAILABILITIES, type Availability } from '../domain/availability.js';
import { toCreditTypeBrief } from '../domain/credit-type-brief.js';
import { formatQuantity } from '../domain/quantity.js';
import { creditTypeBrief } from './credit-type.js';

export const balanceView = z
  .object({
    id: z.uuid(),
    subscription_id: z.uuid().nullable().meta({
      description: "Null for an operator's grant (POST /v1/clients/{id}/grants), which belongs to no subscription.",
    }),
    credit_type: creditTypeBrief,
    source: z.enum(['package', 'recharge', 'rollover', 'adjustment']),
    status: z.enum(['active', 'expired', 'void']),
    granted: z.string(),
    remaining: z
      .string()
      .meta({ description: 'Units left on this balance, whether or not a consumption could spend them now.' }),
    consumed: z.string().meta({ description: 'Net of reversals.' }),
    expired: z.string(),
    held: z.string().meta({ description: 'Reserved by open holds: out of remaining, not consumed yet.' }),
    priority: z.number().int(),
    valid_from: z.string(),
    expires_at: z.string(),
    created_at: z.string(),
  })
  .meta({ id: 'Balance' });
export type BalanceView = z.infer<typeof balanceView>;

export function toBalanceView(row: BalanceRow, creditType: CreditTypeRow): BalanceView {
  return {
    id: row.id,
    subscription_id: row.subscription_id,
    credit_type: toCreditTypeBrief(creditType),
    source: row.source,
    status: row.status,
    granted: formatQuantity(row.granted, creditType.decimals),
    remaining: formatQuantity(row.remaining, creditType.decimals),
    consumed: formatQuantity(row.consumed, creditType.decimals),
    expired: formatQuantity(row.expired, creditType.decimals),
    held: formatQuantity(row.held, creditType.decimals),
    priority: row.priority,
    valid_from: row.valid_from.toISOString(),
    expires_at: row.expires_at.toISOString(),
    created_at: row.created_at.toISOString(),
  };
}

export const placedBalanceView = balanceView
  .extend({
    availability: z.enum(AVAILABILITIES).meta({
      description:
        'Where its remaining units stand now. `usable`: a consumption could spend them (active subscription or ' +
        'none, active balance, valid_from <= now < expires_at); `unavailable`: held by a subscription that is ' +
        'not active (suspended, frozen, pending); `upcoming`: not valid yet; `expired`: past expires_at (swept or ' +
        "not; a frozen subscription's only when that date passed before the freeze); `void`: cancelled.",
    }),
  })
  .meta({ id: 'BalanceWithAvailability' });
export type PlacedBalanceView = z.infer<typeof placedBalanceView>;

/** A balance as a client's balances show it: with where its units stand now (domain/availability.ts). */
export function toPlacedBalanceView(
  row: BalanceRow,
  creditType: CreditTypeRow,
  availability: Availability,
): PlacedBalanceView {
  return { ...toBalanceView(row, creditType), availability };
}
