import { z } from 'zod';
import type { CreditTypeRow } from '../db/repositories/credit-types.js';
import type { CreditTypeBrief } from '../domain/credit-type-brief.js';

export const creditTypeView = z
  .object({
    id: z.uuid(),
    code: z.string(),
    name: z.string(),
    unit: z.string(),
    decimals: z.number().int(),
    archived: z.boolean(),
    dimensions: z.array(z.string()).meta({
      description: "Metadata keys whose values each consumption keeps, to group usage by (DOMAIN.md 'Dimensions').",
    }),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .meta({ id: 'CreditType' });
export type CreditTypeView = z.infer<typeof creditTypeView>;

export const toCreditTypeView = (row: CreditTypeRow): CreditTypeView => ({
  id: row.id,
  code: row.code,
  name: row.name,
  unit: row.unit,
  decimals: row.decimals,
  archived: row.archived,
  dimensions: row.dimensions,
  created_at: row.created_at.toISOString(),
  updated_at: row.updated_at.toISOString(),
});

/** How a credit type appears inside another object. */
export const creditTypeRef = z.object({
  id: z.uuid(),
  code: z.string(),
  name: z.string(),
  unit: z.string(),
  decimals: z.number().int(),
});
export type CreditTypeRef = z.infer<typeof creditTypeRef>;
export const toCreditTypeRef = (row: CreditTypeRow): CreditTypeRef => ({
  id: row.id,
  code: row.code,
  name: row.name,
  unit: row.unit,
  decimals: row.decimals,
});

/**
 * How a balance, a use, a hold, a renewal's or a recharge's granted balance and every event's data name a credit
 * type (API.md "Shapes"): `{id, code, unit}` (src/domain/credit-type-brief.ts `toCreditTypeBrief` makes it).
 */
export const creditTypeBrief = z.object({
  id: z.uuid(),
  code: z.string().meta({ description: "The credit type's code (never changes)." }),
  unit: z.string(),
});
export type { CreditTypeBrief };
