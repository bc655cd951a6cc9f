import { burnDown, changedLots, type Lot, type UseRequest } from './allocate.js';
import type { BalanceChange } from './balance-change.js';
import type { AllocationRecord, ConsumptionMovement, ConsumptionRecord } from './consumption.js';
import type { PreparedUse } from './consumption-request.js';
import { toCreditTypeBrief } from './credit-type-brief.js';
import type { EventDraft } from './event.js';
import { formatQuantity } from './quantity.js';

/** What applying a batch of new uses writes, and each use's answer. */
export interface ConsumptionPlan {
  consumptions: ConsumptionRecord[];
  /** What each balance gave to each use, in the order taken: the allocations and the `consume` ledger entries. */
  movements: ConsumptionMovement[];
  balanceChanges: BalanceChange[];
  events: EventDraft[];
  /** By consumption id: the row and allocations each use's answer is made of. */
  applied: Map<string, { row: ConsumptionRecord; allocations: AllocationRecord[] }>;
}

/**
 * Everything a batch of uses writes, from the balances its transaction locked: the burn-down of
 * DOMAIN.md's consumption rules 2–3 in arrival order, and what follows from it — the consumptions, what
 * each balance gave to each (an allocation and a ledger entry each), each balance's new remaining, the
 * events (a rejection, a balance going low or empty, an automatic recharge asked for). No I/O: the job
 * writes the plan.
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

  // each use's row, its allocations and its answer's parts in one pass (this runs for every use of a batch)
  const consumptions: ConsumptionRecord[] = new Array(fresh.length);
  const applied: ConsumptionPlan['applied'] = new Map();
  fresh.forEach((p, i) => {
    const outcome = burn.outcomes[i]!;
    const row: ConsumptionRecord = {
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
    consumptions[i] = row;
    const own = outcome.allocations.map(
      (a): AllocationRecord => ({ consumption_id: p.id, balance_id: a.balanceId, amount: a.amount }),
    );
    applied.set(p.id, { row, allocations: own });
  });

  const balanceChanges: BalanceChange[] = changedLots(burn, now).map((c) =>
    c.lowNotifiedAt
      ? { id: c.id, remaining: c.remaining, consumed: c.moved, lowNotifiedAt: c.lowNotifiedAt }
      : { id: c.id, remaining: c.remaining, consumed: c.moved },
  );

  // each is a ledger entry of kind `consume` (-amount) of its balance, with the balance's client, credit type and
  // subscription, and its consumption's job, occurred_at (its effective_at) and created_at: the write joins those
  const movements: ConsumptionMovement[] = burn.movements.map((m) => ({
    consumption_id: fresh[m.requestIndex]!.id,
    balance_id: m.balanceId,
    amount: m.amount,
    remaining_after: m.remainingAfter,
  }));
  const lotById = new Map(burn.crossings.length > 0 ? lots.map((l) => [l.id, l]) : []);

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
        credit_type: toCreditTypeBrief(p.creditType),
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
      credit_type: toCreditTypeBrief(p.creditType),
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

  return { consumptions, movements, balanceChanges, events, applied };
}
