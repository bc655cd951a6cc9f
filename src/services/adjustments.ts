import type { Executor } from '../db/knex.js';
import { applyBalanceChanges, lockBalance } from '../db/repositories/balances.js';
import { clientsByIds } from '../db/repositories/clients.js';
import { creditTypesByIds } from '../db/repositories/credit-types.js';
import { appendLedgerEntries, latestEntryOfBalance } from '../db/repositories/ledger.js';
import { recordEvents } from '../db/repositories/outbox.js';
import { subscriptionById } from '../db/repositories/subscriptions.js';
import { transact } from '../db/transact.js';
import { toCreditTypeBrief } from '../domain/credit-type-brief.js';
import type { EventDraft } from '../domain/event.js';
import { formatQuantity, parseQuantity } from '../domain/quantity.js';
import { fail, ok, type Result } from '../domain/result.js';
import { type LedgerEntryView, toLedgerEntryView } from './balances.js';

export interface AdjustmentInput {
  delta: number | string;
  reason: string;
}

async function frozenSubscription(tx: Executor, balance: { subscription_id: string | null }): Promise<boolean> {
  if (!balance.subscription_id) return false;
  return (await subscriptionById(tx, balance.subscription_id))?.status === 'frozen';
}

/**
 * DOMAIN.md "Adjust": an operator adds or removes units on a live balance, with a reason, as an
 * `adjust` ledger entry. Remaining never goes below 0: a larger removal is refused, not clipped.
 */
export async function adjustBalance(
  db: Executor,
  balanceId: string,
  input: AdjustmentInput,
  context: { now: Date; actor: string },
): Promise<Result<LedgerEntryView>> {
  return transact(db, async (tx) => {
    const balance = await lockBalance(tx, balanceId);
    if (!balance) return fail('not_found', `no balance "${balanceId}"`);
    const creditType = (await creditTypesByIds(tx, [balance.credit_type_id])).get(balance.credit_type_id)!;
    const delta = parseQuantity(input.delta, creditType.decimals, { allowNegative: true });
    if (!delta.ok)
      return fail('validation_failed', `delta ${delta.detail}`, {
        errors: [{ field: 'delta', message: delta.detail }],
      });
    if (balance.status !== 'active') return fail('conflict', `the balance is ${balance.status}`);
    // a frozen subscription's clock stopped (DOMAIN.md "Freeze"): its balances past their old expiry are not expired,
    // their expiry moves later at unfreeze (a plain read: an unfreeze moving it waits for this balance's lock)
    if (balance.expires_at.getTime() <= context.now.getTime() && !(await frozenSubscription(tx, balance)))
      return fail('conflict', 'the balance has expired');
    const q = (v: bigint) => formatQuantity(v, creditType.decimals);
    const remaining = balance.remaining + delta.value;
    if (remaining < 0n) {
      return fail(
        'insufficient_balance',
        `the balance holds ${q(balance.remaining)}; it cannot lose ${q(-delta.value)}`,
        {
          extra: { remaining: q(balance.remaining), delta: q(delta.value) },
        },
      );
    }
    const entry = {
      balance_id: balance.id,
      client_id: balance.client_id,
      credit_type_id: balance.credit_type_id,
      subscription_id: balance.subscription_id,
      kind: 'adjust' as const,
      amount: delta.value,
      remaining_after: remaining,
      actor: context.actor,
      reason: input.reason,
      effective_at: context.now,
      created_at: context.now,
    };
    // a removal that takes the balance to its low threshold or to zero says so as a use would (domain/allocate.ts
    // noteCrossing): README's balance.low and balance.depleted are about the balance, whatever lowered it
    const wentLow = balance.remaining > balance.low_threshold && remaining <= balance.low_threshold;
    const wentEmpty = balance.remaining > 0n && remaining === 0n;
    const crossings: EventDraft[] = [];
    if (wentLow || wentEmpty) {
      const client = (await clientsByIds(tx, [balance.client_id])).get(balance.client_id);
      const data = {
        balance_id: balance.id,
        subscription_id: balance.subscription_id,
        client_id: balance.client_id,
        client_external_ref: client?.external_ref ?? null,
        credit_type: toCreditTypeBrief(creditType),
        remaining: q(remaining),
        granted: q(balance.granted),
      };
      const about = { clientId: balance.client_id, subjectId: balance.id };
      if (wentLow)
        crossings.push({ ...about, type: 'balance.low', data: { ...data, threshold: q(balance.low_threshold) } });
      if (wentEmpty) crossings.push({ ...about, type: 'balance.depleted', data });
    }
    await appendLedgerEntries(tx, [entry]);
    await applyBalanceChanges(
      tx,
      [{ id: balance.id, remaining, adjusted: delta.value, ...(wentLow ? { lowNotifiedAt: context.now } : {}) }],
      context.now,
    );
    const row = await latestEntryOfBalance(tx, balance.id);
    if (!row) throw new Error(`balance ${balance.id} has no ledger entry after an adjustment`);
    await recordEvents(
      tx,
      [
        {
          type: 'balance.adjusted',
          clientId: balance.client_id,
          subjectId: balance.id,
          data: {
            balance_id: balance.id,
            subscription_id: balance.subscription_id,
            client_id: balance.client_id,
            credit_type: toCreditTypeBrief(creditType),
            delta: formatQuantity(delta.value, creditType.decimals),
            remaining: formatQuantity(remaining, creditType.decimals),
            reason: input.reason,
            actor: context.actor,
          },
        },
        ...crossings,
      ],
      context.now,
    );
    return ok(toLedgerEntryView(row, creditType));
  });
}
