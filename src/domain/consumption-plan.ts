import { burnDown, changedLots, type Lot, type UseRequest } from './allocate.js';
import type { BalanceChange } from './balance-change.js';
import type { AllocationRecord, ConsumptionRecord } from './consumption.js';
import type { PreparedUse } from './consumption-request.js';
import type { EventDraft } from './event.js';
import { groupBy } from './group-by.js';
import type { LedgerEntryDraft } from './ledger-entry.js';
import { formatQuantity } from './quantity.js';

/** What applying a batch of new uses writes, and each use's answer. */
export interface ConsumptionPlan {
  consumptions: ConsumptionRecord[];
  allocations: AllocationRecord[];
  balanceChanges: BalanceChange[];
  ledgerEntries: LedgerEntryDraft[];
  events: EventDraft[];
  /** By consumption id: the row and allocations each use's answer is made of. */
  applied: Map<string, { row: ConsumptionRecord; allocations: AllocationRecord[] }>;
}

/**
 * Everything a batch of uses writes, from the balances its transaction locked: the burn-down of
 * DOMAIN.md's consumption rules 2–3 in arrival order, and what follows from it — the consumptions and
 * their allocations, each balance's new remaining, the ledger entries, the events (a rejection, a
 * balance going low or empty, an automatic recharge asked for). No I/O: the job writes the plan.
 */
export function planConsumptions(lots: readonly Lot[], fresh: readonly PreparedUse[], now: Date): ConsumptionPlan {
  const requests: UseRequest[] = fresh.map((p) => ({
    clientId: p.client.id,
    creditTypeId: p.creditType.id,
    quantity: p.quantity,
    occurredAt: p.occurredAt,
    mode: p.mode,
  }));
  const burn = burnDown(lots, requests);

  const consumptions: ConsumptionRecord[] = fresh.map((p, i) => {
    const outcome = burn.outcomes[i]!;
    return {
      id: p.id,
      client_id: p.client.id,
      credit_type_id: p.creditType.id,
      idempotency_key: p.report.idempotency_key,
      request_hash: p.hash,
      quantity: outcome.quantity,
      applied: outcome.applied,
      shortfall: outcome.shortfall,
      mode: p.mode,
      status: outcome.status,
      error_code: outcome.status === 'rejected' ? 'insufficient_balance' : null,
      remaining_after: outcome.remaining,
      occurred_at: p.occurredAt,
      reference: p.report.reference ?? null,
      metadata: p.report.metadata ?? null,
      job_id: p.jobId,
      reversed_at: null,
      reversal_returned: null,
      reversal_expired: null,
      created_at: now,
    };
  });
  const allocations: AllocationRecord[] = fresh.flatMap((p, i) =>
    burn.outcomes[i]!.allocations.map((a) => ({ consumption_id: p.id, balance_id: a.balanceId, amount: a.amount })),
  );

  const balanceChanges: BalanceChange[] = changedLots(burn, now).map(({ moved, ...change }) => ({
    ...change,
    consumed: moved,
  }));

  const lotById = new Map(lots.map((l) => [l.id, l]));
  const ledgerEntries: LedgerEntryDraft[] = burn.movements.map((m) => {
    const lot = lotById.get(m.balanceId)!;
    const p = fresh[m.requestIndex]!;
    return {
      balance_id: m.balanceId,
      client_id: lot.clientId,
      credit_type_id: lot.creditTypeId,
      subscription_id: lot.subscriptionId,
      kind: 'consume',
      amount: -m.amount,
      remaining_after: m.remainingAfter,
      consumption_id: p.id,
      job_id: p.jobId,
      effective_at: p.occurredAt,
      created_at: now,
    };
  });

  const events: EventDraft[] = [];
  fresh.forEach((p, i) => {
    const outcome = burn.outcomes[i]!;
    if (outcome.status !== 'rejected') return;
    const q = (v: bigint) => formatQuantity(v, p.creditType.decimals);
    events.push({
      type: 'consumption.rejected',
      clientId: p.client.id,
      subjectId: p.id,
      data: {
        consumption_id: p.id,
        client_id: p.client.id,
        client_external_ref: p.client.externalRef,
        credit_type: p.creditType.code,
        quantity: q(outcome.quantity),
        available: q(outcome.remaining),
        shortfall: q(outcome.shortfall),
        idempotency_key: p.report.idempotency_key,
        reference: p.report.reference ?? null,
        code: 'insufficient_balance',
      },
    });
  });
  for (const crossing of burn.crossings) {
    const p = fresh[crossing.requestIndex]!;
    const lot = lotById.get(crossing.balanceId)!;
    const data = {
      balance_id: crossing.balanceId,
      subscription_id: crossing.subscriptionId,
      client_id: crossing.clientId,
      client_external_ref: p.client.externalRef,
      credit_type: p.creditType.code,
      remaining: formatQuantity(crossing.remaining, p.creditType.decimals),
      granted: formatQuantity(lot.granted, p.creditType.decimals),
      consumption_id: p.id,
    };
    if (crossing.kind === 'low')
      events.push({
        type: 'balance.low',
        clientId: crossing.clientId,
        subjectId: crossing.balanceId,
        data: { ...data, threshold: formatQuantity(lot.lowThreshold, p.creditType.decimals) },
      });
    if (crossing.kind === 'depleted')
      events.push({ type: 'balance.depleted', clientId: crossing.clientId, subjectId: crossing.balanceId, data });
    if (crossing.kind === 'auto_recharge')
      events.push({
        type: 'command.auto_recharge',
        clientId: crossing.clientId,
        subjectId: crossing.subscriptionId,
        data,
      });
  }

  const allocationsById = groupBy(allocations, (a) => a.consumption_id);
  const applied = new Map(consumptions.map((row) => [row.id, { row, allocations: allocationsById.get(row.id) ?? [] }]));
  return { consumptions, allocations, balanceChanges, ledgerEntries, events, applied };
}
