import type { z } from 'zod';
import type { Executor } from '../db/knex.js';
import { createBalances } from '../db/repositories/balances.js';
import { findClient } from '../db/repositories/clients.js';
import { findCreditType } from '../db/repositories/credit-types.js';
import { latestEntryOfBalance } from '../db/repositories/ledger.js';
import { recordEvents } from '../db/repositories/outbox.js';
import { transact } from '../db/transact.js';
import { availabilityOf } from '../domain/availability.js';
import { toCreditTypeBrief } from '../domain/credit-type-brief.js';
import { adjustmentGrant } from '../domain/grant.js';
import { formatQuantity } from '../domain/quantity.js';
import { fail, ok, type Result } from '../domain/result.js';
import { placedBalanceView, toPlacedBalanceView } from '../views/balance.js';
import { ledgerEntryView, toLedgerEntryView } from './balances.js';

export interface GrantInput {
  credit_type: string;
  units: number | string;
  expires_at: Date;
  valid_from?: Date | undefined;
  priority?: number | undefined;
  reason: string;
}

/** The balance a grant created, with the `adjust` ledger entry that granted its units. */
export const grantView = placedBalanceView.extend({ ledger_entry: ledgerEntryView }).meta({
  id: 'Grant',
  description:
    'A balance of no subscription (source `adjustment`), with `ledger_entry`: the `adjust` entry that granted it.',
});
export type GrantView = z.infer<typeof grantView>;

/**
 * POST /v1/clients/{id}/grants: an operator gives a client units of a credit type with a validity of
 * their own, whether or not the client holds a subscription (DOMAIN.md balance source `adjustment`).
 * The balance belongs to no subscription: it is spent in the spending order like any other (its
 * priority, then its expiry), reversed into, expired by the sweep at its `expires_at`, and never
 * renewed or rolled over. Its first ledger entry is an `adjust` with the reason and the actor.
 */
export async function grantUnits(
  db: Executor,
  clientRef: string,
  input: GrantInput,
  context: { now: Date; actor: string },
): Promise<Result<GrantView>> {
  return transact(db, async (tx) => {
    const client = await findClient(tx, clientRef);
    if (!client) return fail('not_found', `no client "${clientRef}"`);
    const creditType = await findCreditType(tx, input.credit_type);
    if (!creditType) return fail('not_found', `no credit type "${input.credit_type}"`);
    if (creditType.archived) {
      const message = `credit type "${creditType.code}" is archived`;
      return fail('validation_failed', message, { errors: [{ field: 'credit_type', message }] });
    }
    const draft = adjustmentGrant(
      {
        creditTypeId: creditType.id,
        decimals: creditType.decimals,
        units: input.units,
        validFrom: input.valid_from,
        expiresAt: input.expires_at,
        priority: input.priority,
      },
      context.now,
    );
    if (!draft.ok) return draft;
    const [balance] = await createBalances(tx, [draft.value], {
      clientId: client.id,
      subscriptionId: null,
      periodStart: draft.value.validFrom,
      kind: 'adjust',
      actor: context.actor,
      reason: input.reason,
      now: context.now,
    });
    if (!balance) throw new Error('a grant created no balance');
    const entry = await latestEntryOfBalance(tx, balance.id);
    if (!entry) throw new Error(`balance ${balance.id} has no ledger entry after its grant`);
    const q = (v: bigint) => formatQuantity(v, creditType.decimals);
    await recordEvents(
      tx,
      [
        {
          type: 'balance.adjusted',
          clientId: client.id,
          subjectId: balance.id,
          data: {
            balance_id: balance.id,
            subscription_id: null,
            client_id: client.id,
            credit_type: toCreditTypeBrief(creditType),
            delta: q(balance.granted),
            remaining: q(balance.remaining),
            valid_from: balance.valid_from.toISOString(),
            expires_at: balance.expires_at.toISOString(),
            reason: input.reason,
            actor: context.actor,
          },
        },
      ],
      context.now,
    );
    const availability = availabilityOf(
      { status: balance.status, validFrom: balance.valid_from, expiresAt: balance.expires_at },
      null,
      context.now,
    );
    return ok({
      ...toPlacedBalanceView(balance, creditType, availability),
      ledger_entry: toLedgerEntryView(entry, creditType),
    });
  });
}
