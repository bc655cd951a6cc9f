import type { AppContext } from '../app-context.js';
import { createHash } from 'node:crypto';
import { canonicalJson } from '../canonical-json.js';
import { PG, pgCode } from '../db/knex.js';
import { inTransaction } from '../db/sql-client.js';
import type { BalanceChange } from '../db/repositories/balances.js';
import {
  allocationsIn,
  consumptionsIn,
  lockSpendable,
  writeConsumptionBatch,
  type AllocationRow,
  type ConsumptionRow,
} from '../db/repositories/consumptions.js';
import type { LedgerEntryDraft } from '../db/repositories/ledger.js';
import type { OutboxEventDraft } from '../db/repositories/outbox.js';
import { burnDown, type Lot, type UseMode, type UseRequest } from '../domain/allocate.js';
import { formatQuantity, parseQuantity } from '../domain/quantity.js';
import { fail, type Failure } from '../domain/result.js';
import { consumptionId } from '../ids.js';
import type { ResolvedClient, ResolvedCreditType } from '../services/ref-resolver.js';
import { MAX_FUTURE_SKEW_MS, type ConsumeData } from './definitions.js';

/** The job's return value, and the `?wait=true` answer. */
export interface ConsumptionResult {
  id: string;
  status: 'applied' | 'partial' | 'rejected' | 'reversed';
  code?: 'insufficient_balance';
  client: { id: string; external_ref: string };
  credit_type: { id: string; code: string; unit: string };
  quantity: string;
  applied: string;
  shortfall: string;
  allocations: Array<{ balance_id: string; amount: string }>;
  /** The client's usable total of the credit type right after this consumption. */
  remaining: string;
  idempotency_key: string;
  occurred_at: string;
  /** True when this answer repeats the first one (the same key was applied before). */
  replayed: boolean;
}

export interface ConsumeItem {
  jobId: string;
  data: ConsumeData;
  /** The job's enqueue time: the default occurred_at when neither it nor accepted_at is given. */
  enqueuedAt: Date;
}

export type ItemOutcome = { ok: true; value: ConsumptionResult } | Failure;

interface Prepared {
  index: number;
  id: string;
  client: ResolvedClient;
  creditType: ResolvedCreditType;
  quantity: bigint;
  occurredAt: Date;
  mode: UseMode;
  hash: string;
  data: ConsumeData;
  jobId: string;
}

/** Thrown when a concurrent transaction wrote one of this batch's consumptions first: the retry replays it. */
export class ConcurrentDuplicateError extends Error {
  readonly transient = true;
  constructor() {
    super('a consumption of this batch was applied concurrently; retrying the batch');
  }
}

/**
 * The payload fingerprint: the same key with another payload is `idempotency_conflict`. Built as one
 * string (this runs for every consumption): the fields in a fixed order, metadata as canonical JSON.
 */
export function consumptionFingerprint(p: { clientId: string; creditTypeId: string; quantity: bigint; occurredAt: string | null; mode: UseMode; reference: string | null; metadata: unknown }): string {
  const text = [p.clientId, p.creditTypeId, p.quantity.toString(), p.occurredAt ?? '', p.mode, p.reference ?? '', p.metadata ? canonicalJson(p.metadata) : ''].join('\u0000');
  return createHash('sha256').update(text).digest('base64url');
}

/** Validates what the schema cannot: references exist, the quantity fits the credit type, the time is sane. */
export function prepareConsumption(
  item: ConsumeItem,
  index: number,
  clients: ReadonlyMap<string, ResolvedClient>,
  creditTypes: ReadonlyMap<string, ResolvedCreditType>,
  now: Date,
): Prepared | Failure {
  const { data } = item;
  const client = clients.get(data.client);
  if (!client) return fail('not_found', `no client "${data.client}"`, { errors: [{ field: 'client', message: 'not found' }] });
  const creditType = creditTypes.get(data.credit_type);
  if (!creditType) return fail('not_found', `no credit type "${data.credit_type}"`, { errors: [{ field: 'credit_type', message: 'not found' }] });
  const quantity = parseQuantity(data.quantity, creditType.decimals);
  if (!quantity.ok) return fail('validation_failed', `quantity ${quantity.detail}`, { errors: [{ field: 'quantity', message: quantity.detail }] });
  const given = data.occurred_at ? new Date(data.occurred_at) : undefined;
  if (given && given.getTime() > now.getTime() + MAX_FUTURE_SKEW_MS) {
    return fail('validation_failed', 'occurred_at is in the future', { errors: [{ field: 'occurred_at', message: 'is in the future' }] });
  }
  const occurredAt = given ?? (data.accepted_at ? new Date(data.accepted_at) : item.enqueuedAt);
  const mode = data.mode ?? 'reject';
  return {
    index,
    id: consumptionId(client.id, data.idempotency_key),
    client,
    creditType,
    quantity: quantity.value,
    occurredAt,
    mode,
    hash: consumptionFingerprint({
      clientId: client.id,
      creditTypeId: creditType.id,
      quantity: quantity.value,
      occurredAt: given ? given.toISOString() : null,
      mode,
      reference: data.reference ?? null,
      metadata: data.metadata ?? null,
    }),
    data,
    jobId: item.jobId,
  };
}

export function consumptionResult(
  row: ConsumptionRow,
  allocations: readonly AllocationRow[],
  client: ResolvedClient,
  creditType: ResolvedCreditType,
  replayed: boolean,
): ConsumptionResult {
  const q = (v: bigint) => formatQuantity(v, creditType.decimals);
  return {
    id: row.id,
    status: row.status,
    ...(row.status === 'rejected' ? { code: 'insufficient_balance' as const } : {}),
    client: { id: client.id, external_ref: client.externalRef },
    credit_type: { id: creditType.id, code: creditType.code, unit: creditType.unit },
    quantity: q(row.quantity),
    applied: q(row.applied),
    shortfall: q(row.shortfall),
    allocations: allocations.map((a) => ({ balance_id: a.balance_id, amount: q(a.amount) })),
    remaining: q(row.remaining_after),
    idempotency_key: row.idempotency_key,
    occurred_at: row.occurred_at.toISOString(),
    replayed,
  };
}

const conflict = (p: Prepared): Failure =>
  fail('idempotency_conflict', `idempotency_key "${p.data.idempotency_key}" was used for client "${p.client.externalRef}" with another payload`);

/**
 * Applies a batch of consumptions in ONE transaction (DOMAIN.md "Consumption"), each with its own
 * answer, in four round trips whatever the batch size: BEGIN; one lock of every balance involved,
 * in the one lock order; one statement writing consumptions, allocations, balances, ledger entries,
 * events and settled requests; COMMIT. The burn-down runs in memory in arrival order between them.
 * A repeat of an earlier consumption is found by that write (it inserts fewer rows than sent), and
 * the batch runs again reading earlier answers first (replays and idempotency conflicts). A bad
 * item answers its own failure and never fails its neighbours; a database error throws, and the
 * whole batch is retried (idempotency makes that safe).
 */
export async function applyConsumptions(app: AppContext, items: readonly ConsumeItem[], options: { checkExisting?: boolean } = {}): Promise<ItemOutcome[]> {
  const now = app.clock.now();
  const outcomes: ItemOutcome[] = new Array(items.length);
  const clients = await app.refs.clientsFor(app.db, items.map((i) => i.data.client));
  const creditTypes = await app.refs.creditTypesFor(app.db, items.map((i) => i.data.credit_type));

  // The first item of each consumption id is applied; later ones (the same key twice in one batch) repeat its answer.
  const primaries: Prepared[] = [];
  const repeats: Prepared[] = [];
  const seen = new Map<string, Prepared>();
  items.forEach((item, index) => {
    const prepared = prepareConsumption(item, index, clients, creditTypes, now);
    if ('ok' in prepared) {
      outcomes[index] = prepared;
      return;
    }
    if (seen.has(prepared.id)) repeats.push(prepared);
    else {
      seen.set(prepared.id, prepared);
      primaries.push(prepared);
    }
  });
  const acceptedJobIds = items.filter((i) => i.data.accepted_at !== undefined).map((i) => i.jobId);
  if (primaries.length === 0 && acceptedJobIds.length === 0) return outcomes;

  const apply = (checkExisting: boolean) =>
    inTransaction(app.sql, async (client) => {
      // Optimistic first: a batch is almost always new uses, so it skips the read of earlier answers;
      // if the write finds one applied before, it rolls back and runs again with that read.
      const existing = checkExisting ? await consumptionsIn(client, primaries.map((p) => p.id)) : new Map<string, ConsumptionRow>();
      const fresh = primaries.filter((p) => !existing.has(p.id));
      let applied = new Map<string, { row: ConsumptionRow; allocations: AllocationRow[] }>();
      if (fresh.length > 0) {
        const times = fresh.map((p) => p.occurredAt.getTime());
        const lots = await lockSpendable(client, {
          clientIds: fresh.map((p) => p.client.id),
          creditTypeIds: fresh.map((p) => p.creditType.id),
          from: new Date(Math.min(...times)),
          to: new Date(Math.max(...times)),
        });
        const plan = planBatch(lots, fresh, now);
        const inserted = await writeConsumptionBatch(client, { ...plan, acceptedJobIds, now }).catch((error: unknown) => {
          // a consumption applied before: its allocations collide with the ones just computed
          if (pgCode(error) === PG.uniqueViolation) throw new ConcurrentDuplicateError();
          throw error;
        });
        if (inserted !== plan.consumptions.length) throw new ConcurrentDuplicateError();
        applied = plan.applied;
      } else if (acceptedJobIds.length > 0) {
        await client.query('DELETE FROM accepted_jobs WHERE job_id = ANY($1::text[])', [acceptedJobIds]);
      }
      const replayAllocations = existing.size > 0 ? await allocationsIn(client, [...existing.keys()]) : new Map<string, AllocationRow[]>();
      return { existing, applied, replayAllocations };
    });
  let written;
  try {
    written = await apply(options.checkExisting ?? false);
  } catch (error) {
    if (!(error instanceof ConcurrentDuplicateError) || options.checkExisting) throw error;
    written = await apply(true);
  }

  const answer = (p: Prepared, replayed: boolean): ItemOutcome => {
    const fresh = written.applied.get(p.id);
    if (fresh) {
      if (replayed && fresh.row.request_hash !== p.hash) return conflict(p);
      return { ok: true, value: consumptionResult(fresh.row, fresh.allocations, p.client, p.creditType, replayed) };
    }
    const before = written.existing.get(p.id);
    if (!before) throw new Error(`consumption ${p.id} was neither applied nor found`);
    if (before.request_hash !== p.hash) return conflict(p);
    return { ok: true, value: consumptionResult(before, written.replayAllocations.get(p.id) ?? [], p.client, p.creditType, true) };
  };
  for (const p of primaries) outcomes[p.index] = answer(p, false);
  for (const p of repeats) outcomes[p.index] = answer(p, true);
  return outcomes;
}

interface BatchPlan {
  consumptions: ConsumptionRow[];
  allocations: AllocationRow[];
  balanceChanges: BalanceChange[];
  ledgerEntries: LedgerEntryDraft[];
  events: OutboxEventDraft[];
  applied: Map<string, { row: ConsumptionRow; allocations: AllocationRow[] }>;
}

/** Everything the batch writes, computed in memory from the locked balances (no I/O). */
function planBatch(lots: readonly Lot[], fresh: readonly Prepared[], now: Date): BatchPlan {
  const requests: UseRequest[] = fresh.map((p) => ({ clientId: p.client.id, creditTypeId: p.creditType.id, quantity: p.quantity, occurredAt: p.occurredAt, mode: p.mode }));
  const burn = burnDown(lots, requests);

  const consumptions: ConsumptionRow[] = fresh.map((p, i) => {
    const outcome = burn.outcomes[i]!;
    return {
      id: p.id,
      client_id: p.client.id,
      credit_type_id: p.creditType.id,
      idempotency_key: p.data.idempotency_key,
      request_hash: p.hash,
      quantity: outcome.quantity,
      applied: outcome.applied,
      shortfall: outcome.shortfall,
      mode: p.mode,
      status: outcome.status,
      error_code: outcome.status === 'rejected' ? 'insufficient_balance' : null,
      remaining_after: outcome.remaining,
      occurred_at: p.occurredAt,
      reference: p.data.reference ?? null,
      metadata: (p.data.metadata as Record<string, unknown> | undefined) ?? null,
      job_id: p.jobId,
      reversed_at: null,
      reversal_returned: null,
      reversal_expired: null,
      created_at: now,
    };
  });
  const allocations: AllocationRow[] = fresh.flatMap((p, i) => burn.outcomes[i]!.allocations.map((a) => ({ consumption_id: p.id, balance_id: a.balanceId, amount: a.amount })));

  const consumedByLot = new Map<string, bigint>();
  for (const m of burn.movements) consumedByLot.set(m.balanceId, (consumedByLot.get(m.balanceId) ?? 0n) + m.amount);
  const wentLow = new Set(burn.crossings.filter((c) => c.kind === 'low').map((c) => c.balanceId));
  const balanceChanges: BalanceChange[] = [...burn.changed].map(([id, remaining]) => ({
    id,
    remaining,
    consumed: consumedByLot.get(id) ?? 0n,
    ...(wentLow.has(id) ? { lowNotifiedAt: now } : {}),
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

  const events: OutboxEventDraft[] = [];
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
        idempotency_key: p.data.idempotency_key,
        reference: p.data.reference ?? null,
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
    if (crossing.kind === 'low') events.push({ type: 'balance.low', clientId: crossing.clientId, subjectId: crossing.balanceId, data: { ...data, threshold: formatQuantity(lot.lowThreshold, p.creditType.decimals) } });
    if (crossing.kind === 'depleted') events.push({ type: 'balance.depleted', clientId: crossing.clientId, subjectId: crossing.balanceId, data });
    if (crossing.kind === 'auto_recharge') events.push({ type: 'command.auto_recharge', clientId: crossing.clientId, subjectId: crossing.subscriptionId, data });
  }

  const allocationsById = new Map<string, AllocationRow[]>();
  for (const a of allocations) {
    const list = allocationsById.get(a.consumption_id);
    if (list) list.push(a);
    else allocationsById.set(a.consumption_id, [a]);
  }
  const applied = new Map(consumptions.map((row) => [row.id, { row, allocations: allocationsById.get(row.id) ?? [] }]));
  return { consumptions, allocations, balanceChanges, ledgerEntries, events, applied };
}
