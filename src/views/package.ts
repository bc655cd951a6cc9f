import { z } from 'zod';
import type { CreditTypeRow } from '../db/repositories/credit-types.js';
import type { PackageWithItems } from '../db/repositories/packages.js';
import { minorToJson } from '../domain/money.js';
import { VALIDITY_CALENDARS, VALIDITY_UNITS, validityOf } from '../domain/period.js';
import { formatQuantity } from '../domain/quantity.js';
import { creditTypeRef, toCreditTypeRef } from './credit-type.js';

export const rolloverView = z.discriminatedUnion('policy', [
  z.object({ policy: z.literal('none') }),
  z.object({ policy: z.literal('all') }),
  z.object({
    policy: z.literal('percent'),
    percent: z.number().int(),
    cap_percent: z.number().int().nullable().optional(),
  }),
]);

/** A package's or a subscription's validity: `count` units of its `calendar`. */
export const validityView = z.object({
  count: z.number().int(),
  unit: z.enum(VALIDITY_UNITS),
  calendar: z
    .enum(VALIDITY_CALENDARS)
    .meta({ description: 'What months and years are counted in: `gregory`, or the Hijri `islamic-umalqura`.' }),
});

export const itemView = z.object({ credit_type: creditTypeRef, units: z.string() });

export const packageView = z
  .object({
    id: z.uuid(),
    code: z.string(),
    name: z.string(),
    description: z.string().nullable(),
    price: z.number().int(),
    currency: z.string(),
    validity: validityView,
    recharge_price: z.number().int(),
    rollover: rolloverView,
    auto_renew: z.boolean(),
    priority: z.number().int(),
    low_balance_percent: z.number().int(),
    max_freeze_days: z
      .number()
      .int()
      .nullable()
      .meta({ description: 'Days a subscription may be frozen per period; null: no freezing.' }),
    status: z.enum(['active', 'archived']),
    metadata: z.record(z.string(), z.unknown()),
    items: z.array(itemView),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .meta({ id: 'Package' });
export type PackageView = z.infer<typeof packageView>;

export const packageRef = z.object({ id: z.uuid(), code: z.string(), name: z.string() });
export type PackageRef = z.infer<typeof packageRef>;
export const toPackageRef = (row: { id: string; code: string; name: string }): PackageRef => ({
  id: row.id,
  code: row.code,
  name: row.name,
});

export function toPackageView(row: PackageWithItems, creditTypes: ReadonlyMap<string, CreditTypeRow>): PackageView {
  return {
    id: row.id,
    code: row.code,
    name: row.name,
    description: row.description,
    price: minorToJson(row.price),
    currency: row.currency,
    validity: validityOf(row),
    recharge_price: minorToJson(row.recharge_price ?? row.price),
    rollover: row.rollover,
    auto_renew: row.auto_renew,
    priority: row.priority,
    low_balance_percent: row.low_balance_percent,
    max_freeze_days: row.max_freeze_days,
    status: row.status,
    metadata: row.metadata,
    items: row.items.map((item) => {
      const creditType = creditTypes.get(item.credit_type_id);
      if (!creditType) throw new Error(`credit type ${item.credit_type_id} of package ${row.id} not loaded`);
      return { credit_type: toCreditTypeRef(creditType), units: formatQuantity(item.units, creditType.decimals) };
    }),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}
