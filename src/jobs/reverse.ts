import type { AppContext } from '../app-context.js';
import { applyBalanceChanges, BALANCE_LOCK_ORDER, type BalanceRow } from '../db/repositories/balances.js';
import { allocationsOf, lockConsumption, type ConsumptionRow } from '../db/repositories/consumptions.js';
import { appendLedgerEntries } from '../db/repositories/ledger.js';
import { recordEvents } from '../db/repositories/outbox.js';
import { transact } from '../db/transact.js';
import { formatQuantity } from '../domain/quantity.js';
import { fail, ok, type Result } from '../domain/result.js';
import { planReversal, type ReversibleLot } from '../domain/reverse.js';
import type { ReverseData } from './definitions.js';

export interface ReversalResult {
  consumption_id: string;
  status: 'reversed';
  /** Units given back to their balances. */
  returned: string;
  /** Units whose balance had expired or been voided: not revived. */
  expired: string;
  reversed_at: string;
  replayed: boolean;
}

export function reversalResult(row: ConsumptionRow, decimals: number, replayed: boolean): ReversalResult {
  return {
    consumption_id: row.id,
    status: 'reversed',
    returned: formatQuantity(row.reversal_returned ?? 0n, decimals),
    expired: formatQuantity(row.reversal_expired ?? 0n, decimals),
    reversed_at: (row.reversed_at ?? new Date(0)).toISOString(),
    replayed,
  };
}

/**
 * DOMAIN.md consumption rule 5: gives each allocation back to its balance, once. Locks the
 * consumption first (so two reversals queue), then its balances in the one lock order.
 */
export async function reverseConsumption(app: AppContext, data: ReverseData, jobId: string, actor: string): Promise<Result<ReversalResult>> {
  const now = app.clock.now();
  return transact(app.db, async (tx) => {
    const consumption = await lockConsumption(tx, data.consumption_id);
    if (!consumption) return fail('not_found', `no consumption "${data.consumption_id}"`);
    const creditType = await app.refs.creditType(tx, consumption.credit_type_id);
    if (!creditType) return fail('not_found', `credit type ${consumption.credit_type_id} is gone`);
    if (data.accepted_at) await tx('accepted_jobs').where({ job_id: jobId }).delete();
    if (consumption.status === 'reversed') return ok(reversalResult(consumption, creditType.decimals, true));
    if (consumption.status === 'rejected') return fail('conflict', 'a rejected consumption took nothing, so there is nothing to reverse');

    const allocations = (await allocationsOf(tx, [consumption.id])).get(consumption.id) ?? [];
    const balances = (await tx('balances')
      .whereIn('id', allocations.map((a) => a.balance_id))
      .orderByRaw(BALANCE_LOCK_ORDER)
      .forUpdate()) as BalanceRow[];
    const lots = new Map<string, ReversibleLot>(balances.map((b) => [b.id, { id: b.id, remaining: b.remaining, status: b.status, expiresAt: b.expires_at }]));
    const plan = planReversal(
      allocations.map((a) => ({ balanceId: a.balance_id, amount: a.amount })),
      lots,
      now,
    );
    const byId = new Map(balances.map((b) => [b.id, b]));
    await appendLedgerEntries(
      tx,
      plan.returned.map((part) => {
        const balance = byId.get(part.balanceId)!;
        return {
          balance_id: part.balanceId,
          client_id: balance.client_id,
          credit_type_id: balance.credit_type_id,
          subscription_id: balance.subscription_id,
          kind: 'reverse' as const,
          amount: part.amount,
          remaining_after: part.remainingAfter,
          consumption_id: consumption.id,
          job_id: jobId,
          actor,
          reason: data.reason ?? null,
          effective_at: now,
          created_at: now,
        };
      }),
    );
    const returnedByLot = new Map<string, { amount: bigint; after: bigint }>();
    for (const part of plan.returned) {
      const prev = returnedByLot.get(part.balanceId)?.amount ?? 0n;
      returnedByLot.set(part.balanceId, { amount: prev + part.amount, after: part.remainingAfter });
    }
    await applyBalanceChanges(
      tx,
      [...returnedByLot].map(([id, r]) => ({ id, remaining: r.after, consumed: -r.amount })),
      now,
    );
    const [updated] = (await tx('consumptions')
      .where({ id: consumption.id })
      .update({ status: 'reversed', reversed_at: now, reversal_returned: plan.returnedTotal, reversal_expired: plan.expiredTotal })
      .returning('*')) as ConsumptionRow[];
    await recordEvents(
      tx,
      [
        {
          type: 'consumption.reversed',
          clientId: consumption.client_id,
          subjectId: consumption.id,
          data: {
            consumption_id: consumption.id,
            client_id: consumption.client_id,
            credit_type: creditType.code,
            returned: formatQuantity(plan.returnedTotal, creditType.decimals),
            expired: formatQuantity(plan.expiredTotal, creditType.decimals),
            reason: data.reason ?? null,
          },
        },
      ],
      now,
    );
    return ok(reversalResult(updated!, creditType.decimals, false));
  });
}
