import {
  type BalancesParams,
  balancesStatement,
  type NearlyConsumedParams,
  nearlyConsumedStatement,
} from '../db/reports/balances.js';
import type { ReportQuery } from './types.js';
import { big, iso, percent, quantity, text } from './values.js';

const COLUMNS = [
  'subscription_id',
  'client_ref',
  'client_name',
  'package_code',
  'subscription_status',
  'credit_type',
  'unit',
  'granted',
  'consumed',
  'remaining',
  'unavailable',
  'upcoming',
  'expired',
  'voided',
  'held',
  'used_percent',
] as const;

function toRow(r: Record<string, unknown>) {
  return {
    subscription_id: text(r.subscription_id),
    client_ref: text(r.client_ref),
    client_name: text(r.client_name),
    package_code: text(r.package_code),
    subscription_status: text(r.subscription_status),
    credit_type: text(r.credit_type),
    unit: text(r.unit),
    granted: quantity(r.granted, r.decimals),
    consumed: quantity(r.consumed, r.decimals),
    remaining: quantity(r.remaining, r.decimals),
    unavailable: quantity(r.unavailable, r.decimals),
    upcoming: quantity(r.upcoming, r.decimals),
    expired: quantity(r.expired, r.decimals),
    voided: quantity(r.voided, r.decimals),
    held: quantity(r.held, r.decimals),
    // of what was granted for the periods begun: a period renewed ahead could not have been used yet
    used_percent: percent(big(r.consumed), big(r.granted_begun)),
  };
}

/**
 * `balances`: one row per subscription and credit type, in the credit type's decimals, with the share consumed of
 * what was granted for the periods already begun (`used_percent`, null when none has begun).
 */
export function balancesQuery(p: BalancesParams): ReportQuery {
  return { columns: COLUMNS, statement: balancesStatement(p), toRow };
}

/**
 * The overview's "nearly consumed" balances (see nearlyConsumedStatement), with the share of what they hold that is
 * used.
 */
export function nearlyConsumedQuery(p: NearlyConsumedParams): ReportQuery {
  return {
    columns: [
      'subscription_id',
      'client_id',
      'client_ref',
      'client_name',
      'package_code',
      'credit_type',
      'unit',
      'held',
      'remaining',
      'used_percent',
      'next_expiry',
    ],
    statement: nearlyConsumedStatement(p),
    toRow: (r) => ({
      subscription_id: text(r.subscription_id),
      client_id: text(r.client_id),
      client_ref: text(r.client_ref),
      client_name: text(r.client_name),
      package_code: text(r.package_code),
      credit_type: text(r.credit_type),
      unit: text(r.unit),
      held: quantity(r.held, r.decimals),
      remaining: quantity(r.remaining, r.decimals),
      used_percent: percent(big(r.held) - big(r.remaining), big(r.held)),
      next_expiry: iso(r.next_expiry),
    }),
  };
}
