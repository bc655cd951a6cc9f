import { type ExpiringParams, expiringStatement, type Remains } from '../db/reports/expiring.js';
import { formatQuantity } from '../domain/quantity.js';
import type { ReportQuery } from './types.js';
import { bool, iso, quantity, text } from './values.js';

/**
 * `expiring`: the `subscription` and `balance` rows that end in the next N days, with the whole
 * days left until then; a balance row shows what remains of it, a subscription row what it still
 * holds of each credit type (`code: quantity; …`).
 */
export function expiringQuery(p: ExpiringParams): ReportQuery {
  const day = 86_400_000;
  return {
    columns: [
      'row_type',
      'expires_at',
      'days_left',
      'client_ref',
      'client_name',
      'package_code',
      'subscription_id',
      'subscription_status',
      'renews',
      'balance_id',
      'credit_type',
      'unit',
      'source',
      'remaining',
      'remains',
    ],
    statement: expiringStatement(p),
    toRow: (r) => {
      const expiresAt = r.expires_at instanceof Date ? r.expires_at : new Date(String(r.expires_at));
      const remains = (r.remains as Remains[] | null) ?? [];
      const isBalance = r.row_type === 'balance';
      return {
        row_type: text(r.row_type),
        expires_at: iso(r.expires_at),
        days_left: Math.max(0, Math.ceil((expiresAt.getTime() - p.asOf.getTime()) / day)),
        client_ref: text(r.client_ref),
        client_name: text(r.client_name),
        package_code: text(r.package_code),
        subscription_id: text(r.subscription_id),
        subscription_status: text(r.subscription_status),
        renews: bool(r.renews),
        balance_id: text(r.balance_id),
        credit_type: text(r.credit_type),
        unit: text(r.unit),
        source: text(r.source),
        remaining: isBalance ? quantity(r.remaining, r.decimals) : null,
        remains: isBalance
          ? null
          : remains.map((x) => `${x.code}: ${formatQuantity(BigInt(x.remaining), x.decimals)}`).join('; '),
      };
    },
  };
}
