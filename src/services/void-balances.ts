import type { Executor } from '../db/knex.js';
import { applyBalanceChanges, type BalanceRow } from '../db/repositories/balances.js';
import { appendLedgerEntries } from '../db/repositories/ledger.js';

/**
 * Voids balances the caller has locked (in the lock order): what remains of each goes with a `void` ledger entry
 * (of 0 when nothing remains), in the same transaction as the change (every balance change is a ledger entry), and
 * each becomes `void`.
 * `invoiceId` names the invoice whose units these were, when the void is that invoice's (a renewal taken back).
 */
export async function voidLockedBalances(
  tx: Executor,
  balances: readonly BalanceRow[],
  entry: { now: Date; actor: string; reason: string; invoiceId?: string | null },
): Promise<void> {
  if (balances.length === 0) return;
  const { now, actor, reason } = entry;
  // one entry each, a balance with nothing left included (amount 0): its status changes, and balances as of an
  // instant (DOMAIN.md "As of") know from the ledger alone when it became void
  await appendLedgerEntries(
    tx,
    balances.map((b) => ({
      balance_id: b.id,
      client_id: b.client_id,
      credit_type_id: b.credit_type_id,
      subscription_id: b.subscription_id,
      kind: 'void' as const,
      amount: -b.remaining,
      remaining_after: 0n,
      ...(entry.invoiceId !== undefined ? { invoice_id: entry.invoiceId } : {}),
      actor,
      reason,
      effective_at: now,
      created_at: now,
    })),
  );
  await applyBalanceChanges(
    tx,
    balances.map((b) => ({ id: b.id, remaining: 0n, voided: b.remaining, status: 'void' as const })),
    now,
  );
}
