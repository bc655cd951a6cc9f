import type { BalanceChange } from './balance-change.js';
import { type CreditTypeBrief, toCreditTypeBrief } from './credit-type-brief.js';
import type { EventDraft } from './event.js';
import type { LedgerEntryDraft } from './ledger-entry.js';
import { formatQuantity, type Scaled } from './quantity.js';

/** A balance that belongs to no subscription (an operator's grant), past its expiry. */
export interface ExpiringGrant {
  id: string;
  clientId: string;
  /** Its credit type, as its `balance.expired` event names it. */
  creditType: CreditTypeBrief;
  decimals: number;
  remaining: Scaled;
  expiresAt: Date;
}

export interface GrantExpiryPlan {
  entries: LedgerEntryDraft[];
  changes: BalanceChange[];
  events: EventDraft[];
}

/**
 * DOMAIN.md "Expire" for balances of no subscription: what remains expires (an `expire` entry,
 * effective at the balance's own expiry) and the balance is done. Nothing rolls over: a rollover
 * moves units into a subscription's next period, and a grant has none.
 */
export function planGrantExpiry(grants: readonly ExpiringGrant[], now: Date): GrantExpiryPlan {
  const plan: GrantExpiryPlan = { entries: [], changes: [], events: [] };
  for (const grant of grants) {
    if (grant.remaining > 0n)
      plan.entries.push({
        balance_id: grant.id,
        client_id: grant.clientId,
        credit_type_id: grant.creditType.id,
        subscription_id: null,
        kind: 'expire',
        amount: -grant.remaining,
        remaining_after: 0n,
        actor: 'expiry sweep',
        effective_at: grant.expiresAt,
        created_at: now,
      });
    plan.changes.push({ id: grant.id, remaining: 0n, expired: grant.remaining, status: 'expired' });
    plan.events.push({
      type: 'balance.expired',
      clientId: grant.clientId,
      subjectId: grant.id,
      data: {
        balance_id: grant.id,
        subscription_id: null,
        client_id: grant.clientId,
        credit_type: toCreditTypeBrief(grant.creditType),
        expired: formatQuantity(grant.remaining, grant.decimals),
        rolled_over: '0',
        expires_at: grant.expiresAt.toISOString(),
      },
    });
  }
  return plan;
}
