import { z } from 'zod';
import type { Executor } from '../db/knex.js';
import { type BalanceRow, balancesOfClient } from '../db/repositories/balances.js';
import { type CreditTypeRow, creditTypesByIds } from '../db/repositories/credit-types.js';
import { type LedgerEntryRow, statement } from '../db/repositories/ledger.js';
import { formatQuantity } from '../domain/quantity.js';
import { balanceView, toBalanceView } from '../views/balance.js';

export const creditTypeBalanceView = z
  .object({
    credit_type: z.object({ id: z.uuid(), code: z.string(), unit: z.string() }),
    granted: z
      .string()
      .meta({ description: 'Granted by packages, recharges and adjustments (rollovers move units, they do not add).' }),
    consumed: z.string().meta({ description: 'Net of reversals.' }),
    remaining: z.string().meta({ description: 'Usable now.' }),
    upcoming: z.string().meta({ description: 'Granted for a period that has not started yet.' }),
    expired: z.string(),
    voided: z.string(),
    next_expiry: z.string().nullable().meta({ description: 'When the next usable units expire.' }),
    balances: z.array(balanceView),
  })
  .meta({ id: 'CreditTypeBalance' });
export type CreditTypeBalanceView = z.infer<typeof creditTypeBalanceView>;

/**
 * GET /v1/clients/{id}/balances: one row per credit type the client has held, summed from the
 * balances' running totals (no ledger scan). A balance past its expiry but not yet swept counts as
 * expired, never as remaining, exactly as the consumption rule sees it.
 */
export async function clientBalances(db: Executor, clientId: string, now: Date): Promise<CreditTypeBalanceView[]> {
  const balances = await balancesOfClient(db, clientId);
  const creditTypes = await creditTypesByIds(
    db,
    balances.map((b) => b.credit_type_id),
  );
  const groups = new Map<string, BalanceRow[]>();
  for (const b of balances) {
    const list = groups.get(b.credit_type_id);
    if (list) list.push(b);
    else groups.set(b.credit_type_id, [b]);
  }
  const t = now.getTime();
  return [...groups].map(([creditTypeId, rows]) => {
    const creditType = creditTypes.get(creditTypeId) as CreditTypeRow;
    let granted = 0n;
    let consumed = 0n;
    let remaining = 0n;
    let upcoming = 0n;
    let expired = 0n;
    let voided = 0n;
    let nextExpiry: Date | null = null;
    for (const b of rows) {
      if (b.source !== 'rollover') granted += b.granted;
      granted += b.adjusted;
      consumed += b.consumed;
      expired += b.expired;
      voided += b.voided;
      if (b.status !== 'active') continue;
      if (b.expires_at.getTime() <= t) expired += b.remaining;
      else if (b.valid_from.getTime() > t) upcoming += b.remaining;
      else {
        remaining += b.remaining;
        if (b.remaining > 0n && (nextExpiry === null || b.expires_at < nextExpiry)) nextExpiry = b.expires_at;
      }
    }
    const q = (v: bigint) => formatQuantity(v, creditType.decimals);
    return {
      credit_type: { id: creditType.id, code: creditType.code, unit: creditType.unit },
      granted: q(granted),
      consumed: q(consumed),
      remaining: q(remaining),
      upcoming: q(upcoming),
      expired: q(expired),
      voided: q(voided),
      next_expiry: nextExpiry?.toISOString() ?? null,
      balances: rows.map((b) => toBalanceView(b, creditType)),
    };
  });
}

export const ledgerEntryView = z
  .object({
    id: z.uuid(),
    seq: z.string(),
    kind: z.enum(['grant', 'consume', 'reverse', 'recharge', 'adjust', 'expire', 'rollover', 'void']),
    balance_id: z.uuid(),
    subscription_id: z.uuid(),
    credit_type: z.object({ id: z.uuid(), code: z.string(), unit: z.string() }),
    amount: z.string().meta({ description: 'Signed: negative when units leave the balance.' }),
    remaining_after: z.string(),
    consumption_id: z.uuid().nullable(),
    invoice_id: z.uuid().nullable(),
    reason: z.string().nullable(),
    actor: z.string().nullable(),
    effective_at: z.string(),
    created_at: z.string(),
  })
  .meta({ id: 'LedgerEntry' });
export type LedgerEntryView = z.infer<typeof ledgerEntryView>;

export function toLedgerEntryView(row: LedgerEntryRow, creditType: CreditTypeRow): LedgerEntryView {
  return {
    id: row.id,
    seq: row.seq.toString(),
    kind: row.kind,
    balance_id: row.balance_id,
    subscription_id: row.subscription_id,
    credit_type: { id: creditType.id, code: creditType.code, unit: creditType.unit },
    amount: formatQuantity(row.amount, creditType.decimals),
    remaining_after: formatQuantity(row.remaining_after, creditType.decimals),
    consumption_id: row.consumption_id,
    invoice_id: row.invoice_id,
    reason: row.reason,
    actor: row.actor,
    effective_at: row.effective_at.toISOString(),
    created_at: row.created_at.toISOString(),
  };
}

/** A client's ledger, oldest first, paginated by sequence number. */
export async function clientStatement(
  db: Executor,
  filter: {
    clientId: string;
    creditTypeId?: string | undefined;
    from?: Date | undefined;
    to?: Date | undefined;
    cursor?: string | undefined;
    limit: number;
  },
): Promise<{ data: LedgerEntryView[]; next_cursor: string | null }> {
  const afterSeq = filter.cursor && /^\d{1,19}$/.test(filter.cursor) ? BigInt(filter.cursor) : undefined;
  const rows = await statement(db, {
    clientId: filter.clientId,
    creditTypeId: filter.creditTypeId,
    from: filter.from,
    to: filter.to,
    afterSeq,
    limit: filter.limit + 1,
  });
  const page = rows.slice(0, filter.limit);
  const creditTypes = await creditTypesByIds(
    db,
    page.map((r) => r.credit_type_id),
  );
  const last = page[page.length - 1];
  return {
    data: page.map((r) => toLedgerEntryView(r, creditTypes.get(r.credit_type_id)!)),
    next_cursor: rows.length > filter.limit && last ? last.seq.toString() : null,
  };
}
