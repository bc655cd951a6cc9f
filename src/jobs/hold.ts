import type { AppContext } from '../app-context.js';
import { type SettledLookup, settle, settlementOf, submit, type Watch } from '../commands/index.js';
import { PG, pgCode } from '../db/knex.js';
import { allocationsIn, consumptionsIn, lockSpendable } from '../db/repositories/consumptions.js';
import { dueFrozenSubscriptionIdsOf } from '../db/repositories/freezes.js';
import {
  clientsOwedBySweep,
  dueHoldIds,
  dueHoldIdsOf,
  type HoldAllocationRow,
  type HoldRow,
  holdAllocationsIn,
  holdsIn,
  lockHeldBalances,
  lockHolds,
  takenHolds,
  writeClosingBatch,
  writeHoldBatch,
} from '../db/repositories/holds.js';
import { inTransaction, type SqlClient } from '../db/sql-client.js';
import type { UseClient, UseCreditType } from '../domain/consumption-request.js';
import {
  type Closing,
  captureKey,
  type HoldClosing,
  type PreparedHold,
  planClosings,
  planHolds,
  prepareHold,
} from '../domain/hold.js';
import { parseQuantity } from '../domain/quantity.js';
import { type Failure, fail, ok, type Result } from '../domain/result.js';
import { consumptionId } from '../ids.js';
import { unfreezeSubscription } from '../services/freeze.js';
import { toConsumptionResult } from '../views/consumption.js';
import { type CaptureResult, type HoldResult, toHoldResult } from '../views/hold.js';
import { acceptedJobIdsOf, applyOptimistically, ConcurrentDuplicateError, firstsAndRepeats } from './batch-apply.js';
import { JOBS, type JobPayload, jobIdOf } from './definitions.js';
import { forgetHold, rememberHoldClient } from './hold-lanes.js';
import { compactTime } from './job-id.js';
import type { BatchItem } from './registry.js';

const conflict = (p: PreparedHold): Failure =>
  fail(
    'idempotency_conflict',
    `idempotency_key "${p.report.idempotency_key}" was used for a hold of client "${p.client.externalRef}" ` +
      'with another payload',
  );

/**
 * The `hold` job, many at a time, exactly like `consume` (jobs/consume.ts): ONE transaction locks
 * every balance the holds may take from in the one lock order (the consumption lock, `lockSpendable`),
 * plans them with the consumption's burn-down (`planHolds`), and writes holds, allocations, balances,
 * ledger entries and the settling of the accepted requests in one statement. A hold taken before is
 * answered from its row (a repeat changes nothing); another payload under its key is a conflict.
 */
export async function applyHolds(
  app: AppContext,
  items: ReadonlyArray<BatchItem<'hold'>>,
  options: { checkExisting?: boolean } = {},
): Promise<Array<Result<HoldResult>>> {
  const now = app.clock.now();
  const outcomes: Array<Result<HoldResult>> = new Array(items.length);
  const clients = await app.refs.clientsFor(
    app.db,
    items.map((i) => i.data.client),
  );
  const creditTypes = await app.refs.creditTypesFor(
    app.db,
    items.map((i) => i.data.credit_type),
  );
  const { primaries, repeats } = firstsAndRepeats(
    items,
    (item, index) =>
      prepareHold(item.data, {
        index,
        jobId: item.jobId,
        enqueuedAt: item.enqueuedAt,
        now,
        clients,
        creditTypes,
      }),
    outcomes,
  );
  const acceptedJobIds = acceptedJobIdsOf(items);
  if (primaries.length === 0 && acceptedJobIds.length === 0) return outcomes;

  const apply = (checkExisting: boolean, settled: boolean) =>
    inTransaction(app.sql, async (client) => {
      const existing = checkExisting
        ? await holdsIn(
            client,
            primaries.map((p) => p.id),
          )
        : new Map<string, HoldRow>();
      const fresh = primaries.filter((p) => !existing.has(p.id));
      let taken = new Map<string, { row: HoldRow; allocations: HoldAllocationRow[] }>();
      if (fresh.length > 0) {
        const times = fresh.map((p) => p.occurredAt.getTime());
        const lots = await lockSpendable(client, {
          clientIds: fresh.map((p) => p.client.id),
          creditTypeIds: fresh.map((p) => p.creditType.id),
          from: new Date(Math.min(...times)),
          to: new Date(Math.max(...times)),
        });
        const plan = planHolds(lots, fresh, now);
        if (!settled)
          await refuseIfOwed(
            client,
            plan.holds.filter((h) => h.status === 'rejected'),
            now,
          );
        const inserted = await writeHoldBatch(client, {
          ...plan,
          settlement: settlementOf(acceptedJobIds),
          now,
        }).catch((error: unknown) => {
          if (pgCode(error) === PG.uniqueViolation) throw new ConcurrentDuplicateError();
          throw error;
        });
        if (inserted !== plan.holds.length) throw new ConcurrentDuplicateError();
        taken = plan.taken;
      } else await settle(client, acceptedJobIds);
      const replayAllocations =
        existing.size > 0
          ? await holdAllocationsIn(client, [...existing.keys()])
          : new Map<string, HoldAllocationRow[]>();
      return { existing, taken, replayAllocations };
    });
  const written = await settlingOwed(app, now, (settled) =>
    applyOptimistically((checkExisting) => apply(checkExisting, settled), options.checkExisting),
  );
  // their captures and releases go to their client's lane (hold-lanes.ts)
  for (const { row } of written.taken.values()) if (row.status === 'held') rememberHoldClient(row.id, row.client_id);

  const answer = (p: PreparedHold, replayed: boolean): Result<HoldResult> => {
    const fresh = written.taken.get(p.id);
    if (fresh) {
      if (replayed && fresh.row.request_hash !== p.hash) return conflict(p);
      return ok(toHoldResult(fresh.row, fresh.allocations, p.client, p.creditType, replayed));
    }
    const before = written.existing.get(p.id);
    if (!before) throw new Error(`hold ${p.id} was neither taken nor found`);
    if (before.request_hash !== p.hash) return conflict(p);
    return ok(toHoldResult(before, written.replayAllocations.get(p.id) ?? [], p.client, p.creditType, true));
  };
  for (const p of primaries) outcomes[p.index] = answer(p, false);
  for (const p of repeats) outcomes[p.index] = answer(p, true);
  return outcomes;
}

/** One closing asked of a hold: by a `capture` or `release` job, or by the expiry sweep. */
export interface ClosingRequest {
  holdId: string;
  action: Closing;
  /** Capture only: the units asked (as sent), all of them when absent. */
  quantity?: string | number | undefined;
  /**
   * Capture and release: when it was asked (the request's accepted_at, else when its job was enqueued). A capture
   * asked before `expires_at` is not refused because its worker came to it after: a use is dated when it happened;
   * a release asked at or after `expires_at` finds the hold expired.
   */
  askedAt?: Date | undefined;
  jobId: string;
  /** The accepted request this settles (API, producer), if any. */
  settles?: string | undefined;
}

export type ClosingOutcome = Result<HoldResult | CaptureResult>;

const closedAs = (hold: HoldRow): string =>
  hold.status === 'expired' ? 'expired' : hold.status === 'rejected' ? 'was rejected' : hold.status;

/**
 * Closes holds many at a time (`capture`, `release`, and the sweep's expiry), in ONE transaction: the
 * holds are locked by id first (two closings of one hold queue; the second sees it closed), then the
 * balances they hold units of in the one lock order; `planClosings` decides; the captures'
 * consumptions and allocations, the balances, the ledger, the events, the settling and the holds go in
 * one statement. Each closing happens once: closing a hold again the same way answers the first result;
 * a capture of a released or expired hold (or a release of a captured one) is 409 `conflict`.
 */
export async function applyClosings(app: AppContext, requests: readonly ClosingRequest[]): Promise<ClosingOutcome[]> {
  const now = app.clock.now();
  const outcomes: ClosingOutcome[] = new Array(requests.length);
  const settles = [...new Set(requests.flatMap((r) => (r.settles ? [r.settles] : [])))];

  const written = await inTransaction(app.sql, async (client) => {
    const locked = await lockHolds(
      client,
      requests.map((r) => r.holdId),
    );
    const holds = new Map([...locked].map(([id, l]) => [id, l.hold]));
    const allocations = new Map([...locked].map(([id, l]) => [id, l.allocations]));
    const clients = await app.refs.clientsFor(
      app.db,
      [...holds.values()].map((h) => h.client_id),
    );
    const creditTypes = await app.refs.creditTypesFor(
      app.db,
      [...holds.values()].map((h) => h.credit_type_id),
    );
    const closings: HoldClosing[] = [];
    const closingIndex = new Map<number, number>();
    const closingOf = new Set<string>();
    const replays: Array<{ index: number; hold: HoldRow }> = [];
    for (const [index, request] of requests.entries()) {
      const hold = holds.get(request.holdId);
      if (!hold) {
        outcomes[index] = fail('not_found', `no hold "${request.holdId}"`);
        continue;
      }
      const wanted = request.action === 'capture' ? 'captured' : request.action === 'release' ? 'released' : 'expired';
      if (hold.status !== 'held') {
        // closed before: the same closing answers its first result (a release finding it expired included)
        const same = hold.status === wanted || (request.action === 'release' && hold.status === 'expired');
        if (same) replays.push({ index, hold });
        else if (request.action === 'expire') replays.push({ index, hold });
        else outcomes[index] = fail('conflict', `hold ${hold.id} ${closedAs(hold)}: it cannot be ${wanted}`);
        continue;
      }
      if (closingOf.has(hold.id)) {
        // the same hold twice in one batch: the first closes it, the later one is told as if it came after
        replays.push({ index, hold });
        continue;
      }
      // when the capture (or release) was asked: never later than now, nor earlier than the hold it closes
      const asked = Math.min(request.askedAt?.getTime() ?? now.getTime(), now.getTime());
      const askedAt = new Date(Math.max(asked, hold.created_at.getTime()));
      if (request.action === 'capture' && hold.expires_at <= askedAt) {
        outcomes[index] = fail('conflict', `hold ${hold.id} expired at ${hold.expires_at.toISOString()}`);
        continue;
      }
      // a release asked once the hold had expired (DOMAIN.md: at its expires_at) finds it expired, as after the
      // sweep: closed as that expiry, its units given back as of expires_at (not lapsing with a balance that was
      // valid then and has expired since, which would keep them from that balance's rollover)
      const action: Closing = request.action === 'release' && hold.expires_at <= askedAt ? 'expire' : request.action;
      const creditType = creditTypes.get(hold.credit_type_id)!;
      let quantity: bigint | undefined;
      if (request.action === 'capture' && request.quantity !== undefined) {
        const parsed = parseQuantity(request.quantity, creditType.decimals);
        if (!parsed.ok) {
          outcomes[index] = fail('validation_failed', `quantity ${parsed.detail}`, {
            errors: [{ field: 'quantity', message: parsed.detail }],
          });
          continue;
        }
        if (parsed.value > hold.quantity) {
          outcomes[index] = fail('validation_failed', `quantity is more than the hold's ${hold.quantity}`, {
            errors: [{ field: 'quantity', message: 'is more than the hold holds' }],
          });
          continue;
        }
        quantity = parsed.value;
      }
      closingOf.add(hold.id);
      closingIndex.set(closings.length, index);
      closings.push({
        hold,
        allocations: allocations.get(hold.id) ?? [],
        action,
        ...(quantity !== undefined ? { quantity } : {}),
        ...(request.action === 'capture'
          ? { consumptionId: consumptionId(hold.client_id, captureKey(hold.id)), askedAt }
          : {}),
        jobId: request.jobId,
        client: clients.get(hold.client_id)!,
        creditType,
      });
    }
    const { lots, usable } = await lockHeldBalances(
      client,
      closings.flatMap((c) => c.allocations.map((a) => a.balance_id)),
      now,
    );
    const plan = planClosings(lots, closings, now, usable);
    if (closings.length > 0 || settles.length > 0) {
      const inserted = await writeClosingBatch(client, {
        holds: plan.holds,
        consumptions: plan.consumptions,
        allocations: plan.consumptionAllocations,
        balanceChanges: plan.balanceChanges,
        ledgerEntries: plan.ledgerEntries,
        events: plan.events,
        settlement: settlementOf(settles),
        now,
      });
      if (inserted !== plan.consumptions.length) throw new ConcurrentDuplicateError();
    }
    // what the answers are made of: the holds as they now stand, their allocations, the captures' consumptions
    const closed = new Map(plan.holds.map((h) => [h.id, h]));
    // a fresh capture is answered from its plan; only a capture made before is read back
    const replayed = replays.flatMap((r) => (r.hold.consumption_id ? [r.hold.consumption_id] : []));
    const consumptions = await consumptionsIn(client, replayed);
    const consumptionAllocations = await allocationsIn(client, replayed);
    for (const c of plan.consumptions) consumptions.set(c.id, c);
    for (const a of plan.consumptionAllocations) {
      const list = consumptionAllocations.get(a.consumption_id);
      if (list) list.push(a);
      else consumptionAllocations.set(a.consumption_id, [a]);
    }
    return {
      closed,
      stillHeld: [...holds.values()].filter((h) => h.status === 'held' && !closed.has(h.id)),
      closingIndex,
      closings,
      replays,
      consumptions,
      consumptionAllocations,
      allocations,
      clients,
      creditTypes,
    };
  });

  // what a later closing job needs to find its client's lane (hold-lanes.ts): only holds still open
  for (const hold of written.closed.values()) forgetHold(hold.id);
  for (const { hold } of written.replays) forgetHold(hold.id);
  for (const hold of written.stillHeld) rememberHoldClient(hold.id, hold.client_id);

  const { creditTypes } = written;
  const answer = (hold: HoldRow, action: Closing, replayed: boolean): ClosingOutcome => {
    const client = written.clients.get(hold.client_id) as UseClient;
    const creditType = creditTypes.get(hold.credit_type_id) as UseCreditType;
    const result = toHoldResult(hold, written.allocations.get(hold.id) ?? [], client, creditType, replayed);
    if (action !== 'capture') return ok(result);
    const consumption = hold.consumption_id ? written.consumptions.get(hold.consumption_id) : undefined;
    if (!consumption) return fail('conflict', `hold ${hold.id} ${closedAs(hold)}: it cannot be captured`);
    const consumed = written.consumptionAllocations.get(consumption.id) ?? [];
    return ok({ hold: result, consumption: toConsumptionResult(consumption, consumed, client, creditType, replayed) });
  };
  for (const [position, index] of written.closingIndex) {
    const closing = written.closings[position]!;
    outcomes[index] = answer(written.closed.get(closing.hold.id)!, closing.action, false);
  }
  for (const { index, hold } of written.replays) {
    const current = written.closed.get(hold.id) ?? hold;
    const action = requests[index]!.action;
    outcomes[index] =
      action === 'capture' && current.status !== 'captured'
        ? fail('conflict', `hold ${hold.id} ${closedAs(current)}: it cannot be captured`)
        : action === 'release' && current.status === 'captured'
          ? fail('conflict', `hold ${hold.id} was captured: it cannot be released`)
          : answer(current, action, true);
  }
  return outcomes;
}

/** The batch handlers of `capture` and `release`: each job one closing of the batch. */
export const applyCaptures = async (
  app: AppContext,
  items: ReadonlyArray<BatchItem<'capture'>>,
): Promise<Array<Result<CaptureResult>>> =>
  (await applyClosings(
    app,
    items.map((item) => ({
      holdId: item.data.hold_id,
      action: 'capture' as const,
      quantity: item.data.quantity,
      askedAt: item.data.accepted_at !== undefined ? new Date(item.data.accepted_at) : item.enqueuedAt,
      jobId: item.jobId,
      settles: item.data.accepted_at !== undefined ? (item.settles ?? item.jobId) : undefined,
    })),
  )) as Array<Result<CaptureResult>>;

export const applyReleases = async (
  app: AppContext,
  items: ReadonlyArray<BatchItem<'release'>>,
): Promise<Array<Result<HoldResult>>> =>
  (await applyClosings(
    app,
    items.map((item) => ({
      holdId: item.data.hold_id,
      action: 'release' as const,
      askedAt: item.data.accepted_at !== undefined ? new Date(item.data.accepted_at) : item.enqueuedAt,
      jobId: item.jobId,
      settles: item.data.accepted_at !== undefined ? (item.settles ?? item.jobId) : undefined,
    })),
  )) as Array<Result<HoldResult>>;

/** A hold as POST /v1/holds accepted it. */
export interface AcceptedHold {
  id: string;
  jobId: string;
  status: 'queued' | HoldRow['status'];
  fresh: boolean;
  watch?: Watch<'hold'>;
}

/**
 * The accepting side of the `hold` job (POST /v1/holds, like POST /v1/consumptions): checks what can
 * be checked before the worker, then hands the hold to the command path, which records and enqueues it.
 */
export async function acceptHold(
  app: AppContext,
  body: Omit<JobPayload<'hold'>, 'accepted_at'>,
  options: { watch?: boolean } = {},
): Promise<Result<AcceptedHold>> {
  const now = app.clock.now();
  const clients = await app.refs.clientsFor(app.db, [body.client]);
  const creditTypes = await app.refs.creditTypesFor(app.db, [body.credit_type]);
  const p = prepareHold(
    { ...body, accepted_at: now.toISOString() },
    { index: 0, jobId: '', enqueuedAt: now, now, clients, creditTypes },
  );
  if ('ok' in p) return p;
  const data = { ...p.report, client: p.client.id };
  const submitted = await submit(app, [{ name: 'hold' as const, data, requestHash: p.hash, subjectId: p.id }], {
    describeConflict: () => conflict(p).detail,
    settled: settledHolds,
    heldHash: async (held) => {
      // a producer's hold under this job id: the same hold written otherwise is not another payload
      const parsed = JOBS.hold.schema.safeParse(held);
      if (!parsed.success) return undefined;
      const named = {
        clients: await app.refs.clientsFor(app.db, [parsed.data.client]),
        creditTypes: await app.refs.creditTypesFor(app.db, [parsed.data.credit_type]),
      };
      const h = prepareHold(parsed.data, { index: 0, jobId: '', enqueuedAt: now, now, ...named });
      return 'ok' in h ? undefined : h.hash;
    },
    watch: options.watch ?? false,
  });
  if (!submitted.ok) return submitted;
  const admission = submitted.value[0]!;
  return ok({
    id: p.id,
    jobId: admission.jobId,
    status: admission.state === 'settled' ? (admission.status as HoldRow['status']) : 'queued',
    fresh: admission.state === 'new',
    ...(admission.watch ? { watch: admission.watch } : {}),
  });
}

const settledHolds: SettledLookup = async (db, commands) => {
  const taken = await takenHolds(
    db,
    commands.flatMap((c) => (c.subjectId ? [c.subjectId] : [])),
  );
  return new Map(
    commands.flatMap((c) => {
      const found = c.subjectId ? taken.get(c.subjectId) : undefined;
      return found ? [[c.jobId, found] as const] : [];
    }),
  );
};

/** The job id a capture or release of `holdId` runs under. */
export const closingJobId = (action: 'capture' | 'release', holdId: string): string =>
  action === 'capture' ? jobIdOf('capture', { hold_id: holdId }) : jobIdOf('release', { hold_id: holdId });

const SWEEP_CHUNK = 100;

/**
 * The expiry sweep's part (DOMAIN.md "Holds"): every hold still open past its `expires_at` is closed
 * as `expired` — its units go back (those of balances that expired meanwhile lapse) and `hold.expired`
 * is recorded — through the same closing as a release, a chunk at a time. Answers how many expired.
 */
export async function expireHolds(app: AppContext, asOf: Date): Promise<number> {
  let expired = 0;
  for (;;) {
    const due = await dueHoldIds(app.db, asOf, SWEEP_CHUNK);
    if (due.length === 0) break;
    const outcomes = await applyClosings(
      app,
      due.map((holdId) => ({ holdId, action: 'expire' as const, jobId: `expire|${compactTime(asOf)}` })),
    );
    const closed = outcomes.filter((o) => o.ok && !('replayed' in o.value && o.value.replayed)).length;
    expired += closed;
    if (due.length < SWEEP_CHUNK || closed === 0) break;
  }
  return expired;
}

/**
 * Thrown inside a use's or a hold's transaction (rolling it back) when one came up short for a client the expiry
 * sweep owes something (`clientsOwedBySweep`): a hold past its `expires_at` still reserving units, a subscription
 * past its `frozen_until` still frozen. DOMAIN.md has them end at those instants; the sweep only comes every few
 * minutes, and a use is never refused for units that were due back already (as it never waits for the sweep to
 * expire a balance).
 */
export class SweepOwed extends Error {
  constructor(readonly clientIds: readonly string[]) {
    super('the expiry sweep owes these clients a closing: done first, then the batch runs again');
  }
}

/**
 * What the expiry sweep would have done by `now` for these clients, done now, as it does it (src/jobs/expire.ts):
 * the freezes due end at their `frozen_until` (unfreezeDue), then the holds due expire (expireHolds).
 */
export async function settleOwed(app: AppContext, clientIds: readonly string[], now: Date): Promise<void> {
  for (const id of await dueFrozenSubscriptionIdsOf(app.db, clientIds, now)) {
    // one unfrozen meanwhile (by hand, or by the sweep) is a conflict: nothing left to do
    await unfreezeSubscription(app.db, id, { now, at: now, actor: 'expiry sweep', by: 'sweep' });
  }
  const holds = await dueHoldIdsOf(app.db, clientIds, now);
  if (holds.length > 0) {
    await applyClosings(
      app,
      holds.map((holdId) => ({ holdId, action: 'expire' as const, jobId: `expire|${compactTime(now)}` })),
    );
  }
}

/**
 * Runs a batch (`settled`: false), and when it came up short for clients the sweep owes something (SweepOwed), does
 * that first and runs it again, once. A batch that was not short never pays more than it did.
 */
export async function settlingOwed<T>(app: AppContext, now: Date, run: (settled: boolean) => Promise<T>): Promise<T> {
  try {
    return await run(false);
  } catch (error) {
    if (!(error instanceof SweepOwed)) throw error;
    await settleOwed(app, error.clientIds, now);
    return run(true);
  }
}

/** Throws SweepOwed when any of these short rows' clients is owed something by the sweep (see settlingOwed). */
export async function refuseIfOwed(
  client: SqlClient,
  short: ReadonlyArray<{ client_id: string }>,
  now: Date,
): Promise<void> {
  if (short.length === 0) return;
  const owed = await clientsOwedBySweep(
    client,
    short.map((r) => r.client_id),
    now,
  );
  if (owed.length > 0) throw new SweepOwed(owed);
}
