import type { AppContext } from '../app-context.js';
import { settlementOf } from '../commands/index.js';
import { PG, pgCode } from '../db/knex.js';
import { allocationsIn, consumptionsIn } from '../db/repositories/consumptions.js';
import {
  dueHoldIds,
  type HoldRow,
  holdsToClose,
  lockHeldBalances,
  writeClosingBatch,
} from '../db/repositories/holds.js';
import { inTransaction, type SqlClient } from '../db/sql-client.js';
import type { UseClient, UseCreditType } from '../domain/consumption-request.js';
import {
  type Closing,
  capturedOtherwise,
  captureKey,
  type HoldClosing,
  planClosings,
  repeatsCapture,
} from '../domain/hold.js';
import { parseQuantity } from '../domain/quantity.js';
import { type Failure, fail, ok, type Result } from '../domain/result.js';
import { consumptionId } from '../ids.js';
import { toConsumptionResult } from '../views/consumption.js';
import { type CaptureResult, type HoldResult, toHoldResult } from '../views/hold.js';
import { ConcurrentDuplicateError } from './batch-apply.js';
import { forgetHold, rememberHoldClient } from './hold-lanes.js';
import { compactTime } from './job-id.js';
import type { BatchItem } from './registry.js';

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
 * holds are read by id (not locked), then the balances they hold units of are locked in the one lock order
 * (two closings of one hold queue there; the second's write finds the hold closed, and the closing runs again
 * and answers as a repeat: runAgainIfRaced); `planClosings` decides; the captures'
 * consumptions and allocations, the balances, the ledger, the events, the settling and the holds go in
 * one statement. Each closing happens once: closing a hold again the same way answers the first result;
 * a capture of a released or expired hold (or a release of a captured one) is 409 `conflict`.
 */
export async function applyClosings(app: AppContext, requests: readonly ClosingRequest[]): Promise<ClosingOutcome[]> {
  const now = app.clock.now();
  const outcomes: ClosingOutcome[] = new Array(requests.length);
  const settles = [...new Set(requests.flatMap((r) => (r.settles ? [r.settles] : [])))];

  // one attempt; an outcome it failed is overwritten by the next attempt's (every request ends failed, closed or
  // replayed), should a race make it run again (runAgainIfRaced)
  const close = async (client: SqlClient) => {
    const found = await holdsToClose(
      client,
      requests.map((r) => r.holdId),
    );
    const holds = new Map([...found].map(([id, l]) => [id, l.hold]));
    const allocations = new Map([...found].map(([id, l]) => [id, l.allocations]));
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
        ...(request.action === 'capture' ? { consumptionId: consumptionId(hold.client_id, captureKey(hold.id)) } : {}),
        // a capture or a release is dated when it was asked (the sweep's expiry by the hold's expires_at)
        ...(action !== 'expire' ? { askedAt } : {}),
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
      const { inserted, closed: closedCount } = await writeClosingBatch(client, {
        holds: plan.holds,
        consumptions: plan.consumptions,
        allocations: plan.consumptionAllocations,
        balanceChanges: plan.balanceChanges,
        ledgerEntries: plan.ledgerEntries,
        events: plan.events,
        settlement: settlementOf(settles),
        now,
      }).catch((error: unknown) => {
        const code = pgCode(error);
        if (code === PG.checkViolation || code === PG.uniqueViolation) throw new ClosingRefused(error);
        throw error;
      });
      // a hold closed by another transaction since it was read: run again, reading it closed
      if (inserted !== plan.consumptions.length || closedCount !== plan.holds.length)
        throw new ConcurrentDuplicateError();
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
  };
  const written = await runAgainIfRaced(() => inTransaction(app.sql, close));

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
    const request = requests[index]!;
    const action = request.action;
    outcomes[index] =
      action === 'capture' && current.status !== 'captured'
        ? fail('conflict', `hold ${hold.id} ${closedAs(current)}: it cannot be captured`)
        : action === 'release' && current.status === 'captured'
          ? fail('conflict', `hold ${hold.id} was captured: it cannot be released`)
          : action === 'capture'
            ? (repeatedCapture(current, request, creditTypes.get(current.credit_type_id)!.decimals) ??
              answer(current, action, true))
            : answer(current, action, true);
  }
  return outcomes;
}

/**
 * A capture of a hold captured before (or earlier in the same batch) repeats that capture only when it asks the same
 * quantity (domain/hold.ts `repeatsCapture`: none given stands for all the hold held): undefined then, to be answered
 * the first capture; another quantity is 409 `conflict`, as POST /v1/holds/{id}/capture answers it — not the first
 * capture's answer, which would tell its caller that its own quantity was consumed.
 */
function repeatedCapture(hold: HoldRow, request: ClosingRequest, decimals: number): Failure | undefined {
  let quantity: bigint | undefined;
  if (request.quantity !== undefined) {
    const parsed = parseQuantity(request.quantity, decimals);
    if (!parsed.ok) {
      return fail('validation_failed', `quantity ${parsed.detail}`, {
        errors: [{ field: 'quantity', message: parsed.detail }],
      });
    }
    quantity = parsed.value;
  }
  return repeatsCapture(hold, quantity) ? undefined : capturedOtherwise(hold, quantity, decimals);
}

/** How many times a closing runs when other transactions keep closing its holds first. */
const CLOSING_ATTEMPTS = 3;

/**
 * A closing's write refused by a constraint. A plan made on a hold that another transaction closed after it was read
 * gives back what the other closing gave back already, and breaks one (a balance's `held` below zero, the capture's
 * consumption made twice) before the write can count the holds it closed: run again to tell a race from a fault.
 */
class ClosingRefused extends Error {
  constructor(readonly refusal: unknown) {
    super('a closing write was refused by a constraint; running it again on fresh reads');
  }
}

/**
 * A closing whose write found one of its holds closed by another transaction since it read them (holds are read, not
 * locked: db/repositories/holds.ts `holdsToClose`) runs again at once, and reads it closed: every caller — the batch,
 * the sweep, a use settling what the sweep owes — gets the repeat's answer rather than an error. The other closing
 * committed before this one planned (this one waited for the balances it locks first), so one run again tells: a
 * refusal that comes back on fresh reads is the write's own fault, and is thrown as it came.
 */
async function runAgainIfRaced<T>(run: () => Promise<T>): Promise<T> {
  let refusedBefore = false;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await run();
    } catch (error) {
      if (error instanceof ClosingRefused) {
        if (refusedBefore || attempt >= CLOSING_ATTEMPTS) throw error.refusal;
        refusedBefore = true;
        continue;
      }
      if (!(error instanceof ConcurrentDuplicateError) || attempt >= CLOSING_ATTEMPTS) throw error;
    }
  }
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
