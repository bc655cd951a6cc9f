import type { AppContext } from '../app-context.js';
import { isPending, settle, submit } from '../commands/index.js';
import { applyBalanceChanges, lockBalancesByIds } from '../db/repositories/balances.js';
import { allocationsOf, consumptionsByIds, lockConsumption, markReversed } from '../db/repositories/consumptions.js';
import { frozenSubscriptionsSince } from '../db/repositories/freezes.js';
import { appendLedgerEntries, type LedgerEntryDraft } from '../db/repositories/ledger.js';
import { recordEvents } from '../db/repositories/outbox.js';
import { transact } from '../db/transact.js';
import { toCreditTypeBrief } from '../domain/credit-type-brief.js';
import { movesAtUnfreeze } from '../domain/freeze.js';
import { formatQuantity } from '../domain/quantity.js';
import { fail, ok, type Result } from '../domain/result.js';
import { EXPIRED_ON_RETURN, planReversal, type ReversibleLot } from '../domain/reverse.js';
import { type ReversalResult, toReversalResult } from '../views/reversal.js';
import { type JobPayload, jobIdOf } from './definitions.js';

/**
 * DOMAIN.md consumption rule 5: gives each allocation back to its balance, once. Locks the
 * consumption first (so two reversals queue), then its balances in the one lock order.
 */
export async function reverseConsumption(
  app: AppContext,
  data: JobPayload<'reverse'>,
  jobId: string,
  actor: string,
): Promise<Result<ReversalResult>> {
  const now = app.clock.now();
  return transact(app.db, async (tx) => {
    const consumption = await lockConsumption(tx, data.consumption_id);
    if (!consumption) return fail('not_found', `no consumption "${data.consumption_id}"`);
    const creditType = await app.refs.creditType(tx, consumption.credit_type_id);
    if (!creditType) return fail('not_found', `credit type ${consumption.credit_type_id} is gone`);
    if (data.accepted_at) await settle(tx, [jobId]);
    if (consumption.status === 'reversed') return ok(toReversalResult(consumption, creditType.decimals, true));
    if (consumption.status === 'rejected')
      return fail('conflict', 'a rejected consumption took nothing, so there is nothing to reverse');

    const allocations = (await allocationsOf(tx, [consumption.id])).get(consumption.id) ?? [];
    // its month was archived (services/archive.ts): what it took of which balance left with the month
    if (allocations.length === 0 && consumption.applied > 0n)
      return fail('conflict', 'its month of history was archived: its allocations are no longer here to give back');
    const balances = await lockBalancesByIds(
      tx,
      allocations.map((a) => a.balance_id),
    );
    // read once the balances are locked: an unfreeze (which moves their expiries) then waits for us
    const frozen = await frozenSubscriptionsSince(
      tx,
      balances.flatMap((b) => (b.subscription_id ? [b.subscription_id] : [])),
    );
    const lots = new Map<string, ReversibleLot>(
      balances.map((b) => {
        const frozenAt = b.subscription_id ? frozen.get(b.subscription_id) : undefined;
        return [
          b.id,
          {
            id: b.id,
            remaining: b.remaining,
            status: b.status,
            expiresAt: b.expires_at,
            // its expiry moves at unfreeze only if it had not passed when the clock stopped: one that expired before
            // the freeze is expired, frozen or not (rule 5: not revived)
            frozen: frozenAt !== undefined && movesAtUnfreeze(b.expires_at, frozenAt),
          },
        ];
      }),
    );
    const plan = planReversal(
      allocations.map((a) => ({ balanceId: a.balance_id, amount: a.amount })),
      lots,
      now,
    );
    const byId = new Map(balances.map((b) => [b.id, b]));
    const entry = (
      balanceId: string,
      kind: 'reverse' | 'expire',
      amount: bigint,
      remainingAfter: bigint,
    ): LedgerEntryDraft => {
      const balance = byId.get(balanceId)!;
      return {
        balance_id: balanceId,
        client_id: balance.client_id,
        credit_type_id: balance.credit_type_id,
        subscription_id: balance.subscription_id,
        kind,
        amount,
        remaining_after: remainingAfter,
        consumption_id: consumption.id,
        job_id: jobId,
        actor,
        reason: kind === 'reverse' ? (data.reason ?? null) : EXPIRED_ON_RETURN,
        effective_at: now,
        created_at: now,
      };
    };
    // a part whose balance is no longer usable goes back to it and expires there at once (DOMAIN.md rule 5: "not
    // revived: its part is recorded as expired"): a `reverse` and an `expire` entry, the balance's remaining as it
    // was, its consumed less the part and its expired more — the use is taken back either way
    const entries: LedgerEntryDraft[] = [];
    const changes = new Map<string, { remaining: bigint; consumed: bigint; expired: bigint }>();
    const change = (id: string) => {
      const found = changes.get(id);
      if (found) return found;
      const fresh = { remaining: byId.get(id)!.remaining, consumed: 0n, expired: 0n };
      changes.set(id, fresh);
      return fresh;
    };
    for (const part of plan.returned) {
      entries.push(entry(part.balanceId, 'reverse', part.amount, part.remainingAfter));
      const c = change(part.balanceId);
      c.remaining = part.remainingAfter;
      c.consumed -= part.amount;
    }
    for (const part of plan.expired) {
      if (!byId.has(part.balanceId)) continue;
      const c = change(part.balanceId);
      entries.push(entry(part.balanceId, 'reverse', part.amount, c.remaining + part.amount));
      entries.push(entry(part.balanceId, 'expire', -part.amount, c.remaining));
      c.consumed -= part.amount;
      c.expired += part.amount;
    }
    await appendLedgerEntries(tx, entries);
    await applyBalanceChanges(
      tx,
      [...changes].map(([id, c]) => ({
        id,
        remaining: c.remaining,
        consumed: c.consumed,
        ...(c.expired > 0n ? { expired: c.expired } : {}),
      })),
      now,
    );
    const updated = await markReversed(tx, consumption.id, {
      at: now,
      returned: plan.returnedTotal,
      expired: plan.expiredTotal,
    });
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
            credit_type: toCreditTypeBrief(creditType),
            returned: formatQuantity(plan.returnedTotal, creditType.decimals),
            expired: formatQuantity(plan.expiredTotal, creditType.decimals),
            reason: data.reason ?? null,
          },
        },
      ],
      now,
    );
    return ok(toReversalResult(updated, creditType.decimals, false));
  });
}

/**
 * The accepting side of the `reverse` job (POST /v1/consumptions/{id}/reverse): a reversal of a
 * consumption that took something. One reversed before answers its first reversal (`replay`).
 */
export async function acceptReversal(
  app: AppContext,
  consumptionId: string,
  reason: string | undefined,
): Promise<Result<{ jobId: string; replay?: ReversalResult }>> {
  const existing = (await consumptionsByIds(app.db, [consumptionId])).get(consumptionId);
  if (!existing) {
    // accepted and still waiting for its worker: it exists (GET answers it `queued`), it has taken nothing yet
    if (await isPending(app.db, consumptionId))
      return fail('conflict', `consumption "${consumptionId}" is queued, not applied yet: reverse it once it is`);
    return fail('not_found', `no consumption "${consumptionId}"`);
  }
  if (existing.status === 'rejected')
    return fail('conflict', 'a rejected consumption took nothing, so there is nothing to reverse');
  const data = {
    consumption_id: consumptionId,
    ...(reason ? { reason } : {}),
    accepted_at: app.clock.now().toISOString(),
  };
  if (existing.status === 'reversed') {
    const creditType = await app.refs.creditType(app.db, existing.credit_type_id);
    return ok({ jobId: jobIdOf('reverse', data), replay: toReversalResult(existing, creditType?.decimals ?? 0, true) });
  }
  // the job id names the consumption: reversing twice is one job, whatever the reason given
  const submitted = await submit(app, [{ name: 'reverse', data }]);
  if (!submitted.ok) return submitted;
  return ok({ jobId: submitted.value[0]!.jobId });
}
