import { z } from 'zod';
import { grantedBalanceView } from './granted-balance.js';

/** What a `recharge` job answers, and POST /v1/subscriptions/{id}/recharge with `?wait=true`. */
export const rechargeResultSchema = z
  .object({
    recharge_id: z.uuid().nullable(),
    subscription_id: z.uuid(),
    status: z.enum(['recharged', 'skipped']).meta({
      description: '`skipped` when an automatic recharge is off or has reached max_per_period.',
    }),
    reason: z.string().optional(),
    auto: z.boolean(),
    invoice_id: z.uuid().nullable(),
    price: z.number().int().meta({ description: 'Minor units.' }),
    currency: z.string(),
    balances: z.array(grantedBalanceView),
    replayed: z.boolean(),
  })
  .meta({ id: 'RechargeResult' });
export type RechargeResult = z.infer<typeof rechargeResultSchema>;
