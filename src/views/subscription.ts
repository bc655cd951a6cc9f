import { z } from 'zod';
import type { BalanceRow } from '../db/repositories/balances.js';
import type { ClientRow } from '../db/repositories/clients.js';
import type { CreditTypeRow } from '../db/repositories/credit-types.js';
import type { InvoiceWithLines } from '../db/repositories/invoices.js';
import type { PackageRow } from '../db/repositories/packages.js';
import type { SubscriptionItemRow, SubscriptionRow } from '../db/repositories/subscriptions.js';
import { minorToJson } from '../domain/money.js';
import { validityOf } from '../domain/period.js';
import { formatQuantity } from '../domain/quantity.js';
import { balanceView, toBalanceView } from './balance.js';
import { clientRef, toClientRef } from './client.js';
import { creditTypeRef, toCreditTypeRef } from './credit-type.js';
import { invoiceView, toInvoiceView } from './invoice.js';
import { packageRef, toPackageRef, validityView } from './package.js';

export const subscriptionView = z
  .object({
    id: z.uuid(),
    client: clientRef,
    package: packageRef,
    status: z.enum(['pending', 'active', 'expired', 'cancelled', 'suspended', 'frozen']),
    frozen_at: z.string().nullable().meta({ description: 'When the freeze in progress began; null when not frozen.' }),
    frozen_until: z
      .string()
      .nullable()
      .meta({ description: 'When the sweep unfreezes it (if not unfrozen by hand before); null when not frozen.' }),
    activation: z.enum(['immediate', 'on_payment']),
    current_period_start: z.string(),
    current_period_end: z.string(),
    auto_renew: z.boolean(),
    price: z.number().int().meta({ description: 'The fee it renews at, in minor units.' }),
    price_source: z
      .enum(['package', 'subscription'])
      .meta({ description: '`package` follows the package price; `subscription` is its own.' }),
    recharge_price: z.number().int(),
    currency: z.string(),
    validity: validityView,
    apply_package_changes: z.boolean(),
    cancel_at_period_end: z.boolean(),
    auto_recharge: z.object({
      enabled: z.boolean(),
      threshold_percent: z.number().int(),
      max_per_period: z.number().int(),
    }),
    renewal_count: z.number().int(),
    items: z.array(z.object({ credit_type: creditTypeRef, units: z.string() })),
    balances: z.array(balanceView).optional(),
    invoice: invoiceView.optional(),
    metadata: z.record(z.string(), z.unknown()),
    activated_at: z.string().nullable(),
    cancelled_at: z.string().nullable(),
    expired_at: z.string().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .meta({ id: 'Subscription' });
export type SubscriptionView = z.infer<typeof subscriptionView>;

export interface SubscriptionRelations {
  client: ClientRow;
  pkg: PackageRow;
  items: readonly SubscriptionItemRow[];
  creditTypes: ReadonlyMap<string, CreditTypeRow>;
  balances?: readonly BalanceRow[];
  invoice?: InvoiceWithLines;
}

const need = <T>(value: T | undefined, what: string): T => {
  if (value === undefined) throw new Error(`${what} not loaded`);
  return value;
};

export function toSubscriptionView(row: SubscriptionRow, rel: SubscriptionRelations): SubscriptionView {
  return {
    id: row.id,
    client: toClientRef(rel.client),
    package: toPackageRef(rel.pkg),
    status: row.status,
    frozen_at: row.frozen_at?.toISOString() ?? null,
    frozen_until: row.frozen_until?.toISOString() ?? null,
    activation: row.activation,
    current_period_start: row.current_period_start.toISOString(),
    current_period_end: row.current_period_end.toISOString(),
    ...toSubscriptionSettings(row, rel.pkg.price),
    recharge_price: minorToJson(rel.pkg.recharge_price ?? rel.pkg.price),
    currency: row.currency,
    validity: validityOf(row),
    renewal_count: row.renewal_count,
    items: rel.items.map((item) => {
      const creditType = need(rel.creditTypes.get(item.credit_type_id), `credit type ${item.credit_type_id}`);
      return { credit_type: toCreditTypeRef(creditType), units: formatQuantity(item.units, creditType.decimals) };
    }),
    ...(rel.balances
      ? {
          balances: rel.balances.map((b) =>
            toBalanceView(b, need(rel.creditTypes.get(b.credit_type_id), `credit type ${b.credit_type_id}`)),
          ),
        }
      : {}),
    ...(rel.invoice ? { invoice: toInvoiceView(rel.invoice, rel.client, rel.creditTypes) } : {}),
    activated_at: row.activated_at?.toISOString() ?? null,
    cancelled_at: row.cancelled_at?.toISOString() ?? null,
    expired_at: row.expired_at?.toISOString() ?? null,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

/** The settings of a subscription, as its view shows them: what `subscription.updated` reports. */
export type SubscriptionSettings = Pick<
  SubscriptionView,
  | 'auto_renew'
  | 'price'
  | 'price_source'
  | 'apply_package_changes'
  | 'cancel_at_period_end'
  | 'auto_recharge'
  | 'metadata'
>;

export const toSubscriptionSettings = (row: SubscriptionRow, packagePrice: bigint): SubscriptionSettings => ({
  auto_renew: row.auto_renew,
  price: minorToJson(row.price_override ?? packagePrice),
  price_source: row.price_override === null ? 'package' : 'subscription',
  apply_package_changes: row.apply_package_changes,
  cancel_at_period_end: row.cancel_at_period_end,
  auto_recharge: {
    enabled: row.auto_recharge_enabled,
    threshold_percent: row.auto_recharge_threshold_percent,
    max_per_period: row.auto_recharge_max_per_period,
  },
  metadata: row.metadata,
});
