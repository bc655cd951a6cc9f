import { hash } from 'node:crypto';
import { DEFAULT_HOLD_SECONDS, MAX_HOLD_SECONDS } from '@credits/producer/contracts';
import { canonicalJson } from '../canonical-json.js';
import { holdId } from '../ids.js';
import { burnDown, changedLots, type Lot } from './allocate.js';
import type { BalanceChange, BalanceStatus } from './balance-change.js';
import type { AllocationRecord, ConsumptionRecord } from './consumption.js';
import {
  CAPTURE_KEY_PREFIX,
  checkUse,
  isRefused,
  type PreparedUse,
  type UseClient,
  type UseContext,
  type UseCreditType,
} from './consumption-request.js';
import { toCreditTypeBrief } from './credit-type-brief.js';
import type { EventDraft } from './event.js';
import type { LedgerEntryDraft } from './ledger-entry.js';
import { formatQuantity, minScaled, type Scaled } from './quantity.js';
import { type Failure, fail } from './result.js';

// default life of a hold, and the longest allowed (API.md `expires_in_seconds`): part of the job's contract
export { DEFAULT_HOLD_SECONDS, MAX_HOLD_SECONDS };

/**
 * DOMAIN.md "Holds": units reserved now for a use whose size is known later. Taken with the SAME
 * burn-down as a consumption (allocate.ts); its capture turns held units into a consumption in the
 * hold's own order and releases the rest; a release gives everything back, except units of a
 * balance that expired (or was voided) meanwhile: those go where the balance's other units went.
 * Pure: the jobs lock, call these, write.
 */

export type HoldStatus = 'held' | 'captured' | 'released' | 'expired' | 'rejected';
export const HOLD_STATUSES = ['held', 'captured', 'released', 'expired', 'rejected'] as const;

/**
 * A hold that ended at its `expires_at` (DOMAIN.md) while its row still says `held`: the expiry sweep has not
 * recorded it yet (a capture or release asked in time aside, which the repository's query leaves out).
 */
export const heldPastExpiry = (hold: { status: string; expiresAt: Date }, now: Date): boolean =>
  hold.status === 'held' && hold.expiresAt.getTime() <= now.getTime();

/** A hold as stored. */
export interface HoldRecord {
  id: string;
  client_id: string;
  credit_type_id: string;
  idempotency_key: string;
  request_hash: string;
  quantity: Scaled;
  status: HoldStatus;
  error_code: string | null;
  /** The client's usable total of the credit type right after the hold was taken (or refused). */
  remaining_after: Scaled;
  expires_at: Date;
  reference: string | null;
  metadata: Record<string, unknown> | null;
  /** Set when it closes. */
  captured: Scaled | null;
  released: Scaled | null;
  /** Units of balances that expired or were voided while held: not given back. */
  lapsed: Scaled | null;
  consumption_id: string | null;
  job_id: string | null;
  closed_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

/** What one balance gave to one hold, and where in the hold's spending order. */
export interface HoldAllocationRecord {
  hold_id: string;
  balance_id: string;
  amount: Scaled;
  position: number;
}

/** A hold as reported (the fields of a `hold` job the rules read). */
export interface HoldReport {
  client: string;
  credit_type: string;
  quantity: number | string;
  idempotency_key: string;
  expires_in_seconds?: number | undefined;
  accepted_at?: string | undefined;
  reference?: string | undefined;
  metadata?: Record<string, unknown> | undefined;
}

export interface PreparedHold extends PreparedUse<HoldReport> {
  expiresAt: Date;
}

/** The payload's fingerprint: the same key with another payload is `idempotency_conflict`. */
export function holdFingerprint(p: {
  clientId: string;
  creditTypeId: string;
  quantity: Scaled;
  expiresInSeconds: number;
  reference: string | null;
  metadata: unknown;
}): string {
  const text = [
    'hold',
    p.clientId,
    p.creditTypeId,
    p.quantity.toString(),
    String(p.expiresInSeconds),
    p.reference ?? '',
    p.metadata ? canonicalJson(p.metadata) : '',
  ].join('\u0000');
  return hash('sha256', text, 'base64url');
}

/**
 * Checks a hold like a use (its references, its precision) and names it: id from (client, key),
 * fingerprint, when it is taken (accepted_at, else when it was enqueued) and when it expires.
 */
export function prepareHold(report: HoldReport, context: UseContext): PreparedHold | Failure {
  const use = checkUse(report, context);
  if (isRefused(use)) return use;
  const seconds = report.expires_in_seconds ?? DEFAULT_HOLD_SECONDS;
  // made field by field, like prepareUse's, not copied twice by spreads (this runs for every hold of a batch)
  return {
    index: use.index,
    id: holdId(use.client.id, report.idempotency_key),
    client: use.client,
    creditType: use.creditType,
    quantity: use.quantity,
    occurredAt: use.occurredAt,
    mode: use.mode,
    hash: holdFingerprint({
      clientId: use.client.id,
      creditTypeId: use.creditType.id,
      quantity: use.quantity,
      expiresInSeconds: seconds,
      reference: report.reference ?? null,
      metadata: report.metadata ?? null,
    }),
    report,
    jobId: use.jobId,
    expiresAt: new Date(use.occurredAt.getTime() + seconds * 1000),
  };
}

export interface HoldPlan {
  holds: HoldRecord[];
  allocations: HoldAllocationRecord[];
  balanceChanges: BalanceChange[];
  ledgerEntries: LedgerEntryDraft[];
  events: EventDraft[];
  /** By hold id: the row and allocations each hold's answer is made of. */
  taken: Map<string, { row: HoldRecord; allocations: HoldAllocationRecord[] }>;
}

/** The ledger's link from an entry to its hold (the ledger has no hold column: the reason names it). */
export const holdReason = (holdId: string): string => `hold ${holdId}`;

/**
 * A hold whose life ended before its worker took it (`expires_at` = when it was asked + its seconds, at or before
 * now: a queue backed up for longer than the hold lives, a producer's `accepted_at` far behind): it reserves nothing.
 */
export const expiredOnArrival = (hold: { expiresAt: Date }, now: Date): boolean =>
  hold.expiresAt.getTime() <= now.getTime();

/**
 * New holds, from the balances their transaction locked: the burn-down of consumption rules 2–3
 * (all or nothing, like `mode=reject`) in arrival order — each balance's remaining drops and its held
 * grows by what it gives (a negative `hold` entry); a hold that does not fit is `rejected`. A hold already past its
 * `expires_at` (expiredOnArrival) is recorded `expired` at once, with nothing reserved, no ledger entry and its
 * `hold.expired` — what the sweep would have made of it a moment later, without units reserved by a hold that had
 * ended, and without an answer `held` for a hold every read and capture then finds expired.
 */
export function planHolds(lots: readonly Lot[], fresh: readonly PreparedHold[], now: Date): HoldPlan {
  const ended = fresh.map((p) => expiredOnArrival(p, now));
  const burn = burnDown(
    lots,
    fresh.map((p, i) => ({
      clientId: p.client.id,
      creditTypeId: p.creditType.id,
      // nothing taken: its outcome is only what the client had left when it was asked (its remaining_after), read
      // from the balances locked for that instant like every other hold's
      quantity: ended[i] ? 0n : p.quantity,
      occurredAt: p.occurredAt,
      mode: 'reject' as const,
    })),
  );
  const holds: HoldRecord[] = fresh.map((p, i) => {
    const outcome = burn.outcomes[i]!;
    const rejected = outcome.status === 'rejected';
    const expired = ended[i]!;
    return {
      id: p.id,
      client_id: p.client.id,
      credit_type_id: p.creditType.id,
      idempotency_key: p.report.idempotency_key,
      request_hash: p.hash,
      quantity: p.quantity,
      status: expired ? 'expired' : rejected ? 'rejected' : 'held',
      error_code: rejected && !expired ? 'insufficient_balance' : null,
      remaining_after: outcome.remaining,
      expires_at: p.expiresAt,
      reference: p.report.reference ?? null,
      metadata: p.report.metadata ?? null,
      captured: null,
      released: expired ? 0n : null,
      lapsed: expired ? 0n : null,
      consumption_id: null,
      job_id: p.jobId,
      closed_at: rejected || expired ? now : null,
      created_at: now,
      updated_at: now,
    };
  });
  const allocations: HoldAllocationRecord[] = fresh.flatMap((p, i) =>
    burn.outcomes[i]!.allocations.map((a, position) => ({
      hold_id: p.id,
      balance_id: a.balanceId,
      amount: a.amount,
      position,
    })),
  );
  const balanceChanges: BalanceChange[] = changedLots(burn, now).map(({ moved, ...change }) => ({
    ...change,
    held: moved,
  }));
  const lotById = new Map(lots.map((l) => [l.id, l]));
  // a hold lowers remaining like a use: the same threshold events (and automatic recharge) follow
  const events: EventDraft[] = burn.crossings.map((crossing) => {
    const p = fresh[crossing.requestIndex]!;
    const lot = lotById.get(crossing.balanceId)!;
    const q = (v: Scaled) => formatQuantity(v, p.creditType.decimals);
    const data = {
      balance_id: crossing.balanceId,
      subscription_id: crossing.subscriptionId,
      client_id: crossing.clientId,
      client_external_ref: p.client.externalRef,
      credit_type: toCreditTypeBrief(p.creditType),
      remaining: q(crossing.remaining),
      granted: q(lot.granted),
      hold_id: p.id,
    };
    const base = { clientId: crossing.clientId };
    if (crossing.kind === 'low')
      return {
        ...base,
        type: 'balance.low' as const,
        subjectId: crossing.balanceId,
        data: { ...data, threshold: q(lot.lowThreshold) },
      };
    if (crossing.kind === 'depleted')
      return { ...base, type: 'balance.depleted' as const, subjectId: crossing.balanceId, data };
    return { ...base, type: 'command.auto_recharge' as const, subjectId: crossing.subscriptionId, data };
  });
  // a hold that ended before it was taken: its end said as the sweep says it (nothing released, nothing lapsed)
  fresh.forEach((p, i) => {
    if (!ended[i]) return;
    const q = (v: Scaled) => formatQuantity(v, p.creditType.decimals);
    events.push({
      type: 'hold.expired',
      clientId: p.client.id,
      subjectId: p.id,
      data: {
        hold_id: p.id,
        client_id: p.client.id,
        client_external_ref: p.client.externalRef,
        credit_type: toCreditTypeBrief(p.creditType),
        quantity: q(p.quantity),
        released: q(0n),
        lapsed: q(0n),
        expires_at: p.expiresAt.toISOString(),
        idempotency_key: p.report.idempotency_key,
        reference: p.report.reference ?? null,
      },
    });
  });
  const ledgerEntries: LedgerEntryDraft[] = burn.movements.map((m) => {
    const lot = lotById.get(m.balanceId)!;
    const p = fresh[m.requestIndex]!;
    return {
      balance_id: m.balanceId,
      client_id: lot.clientId,
      credit_type_id: lot.creditTypeId,
      subscription_id: lot.subscriptionId,
      kind: 'hold',
      amount: -m.amount,
      remaining_after: m.remainingAfter,
      job_id: p.jobId,
      reason: holdReason(p.id),
      effective_at: p.occurredAt,
      created_at: now,
    };
  });
  const byHold = new Map<string, HoldAllocationRecord[]>();
  for (const a of allocations) byHold.set(a.hold_id, [...(byHold.get(a.hold_id) ?? []), a]);
  const taken = new Map(holds.map((row) => [row.id, { row, allocations: byHold.get(row.id) ?? [] }]));
  return { holds, allocations, balanceChanges, ledgerEntries, events, taken };
}

/** A balance a closing hold gives back to, as its transaction locked it. */
export interface HeldLot {
  id: string;
  clientId: string;
  creditTypeId: string;
  subscriptionId: string | null;
  remaining: Scaled;
  status: BalanceStatus;
  expiresAt: Date;
  /**
   * Its subscription is frozen and its expiry was still running when the clock stopped, so it will move later at
   * unfreeze (DOMAIN.md "Freeze"); one that had expired before the freeze is not (it stays expired).
   */
  frozen?: boolean;
  /**
   * Its units can pay for a use now: its subscription (if any) is active and it is valid already (DOMAIN.md "Usable
   * means spendable"); absent: yes. Units given back to a balance that is not (a frozen or suspended subscription's)
   * are back in it, but not in the usable total a capture answers.
   */
  spendable?: boolean;
  /** A void balance: when it became void (its first `void` entry), when known. */
  voidedAt?: Date;
}

export type Closing = 'capture' | 'release' | 'expire';

/** One hold to close: what it holds (in its order) and how it closes. */
export interface HoldClosing {
  hold: HoldRecord;
  allocations: readonly HoldAllocationRecord[];
  action: Closing;
  /** Capture only: the units to consume (≤ the hold's quantity). */
  quantity?: Scaled;
  /** Capture only: the consumption it makes. */
  consumptionId?: string;
  /**
   * Capture and release: when it was asked (no later than now): the capture's consumption's occurred_at, and when the
   * units it gives back come back — a balance valid then gets them, however late the worker came. Default now.
   */
  askedAt?: Date;
  jobId: string;
  client: UseClient;
  creditType: UseCreditType;
}

export interface ClosingPlan {
  holds: HoldRecord[];
  consumptions: ConsumptionRecord[];
  consumptionAllocations: AllocationRecord[];
  balanceChanges: BalanceChange[];
  ledgerEntries: LedgerEntryDraft[];
  events: EventDraft[];
}

/**
 * Whether units given back to a balance can be spent again: it is live and not past its expiry — or
 * its subscription is frozen, which neither expires it nor lets its expiry pass.
 */
const revivable = (lot: HeldLot, now: Date): boolean =>
  lot.status === 'active' && (lot.expiresAt > now || lot.frozen === true);

/**
 * When an expiry's entry on this balance takes effect: when the hold ended (`returnedAt`), its units back on the
 * balance — except the units that lapse into a balance voided after that (a subscription cancelled before the sweep
 * came), which were back on it, active, until it was voided: their `void` is dated then (balances as of an instant
 * between the two read the balance active, as a live read then would have).
 */
const expiryEffect = (lot: HeldLot, kind: LedgerEntryDraft['kind'], returnedAt: Date): Date =>
  kind === 'void' && lot.voidedAt && lot.voidedAt > returnedAt ? lot.voidedAt : returnedAt;

/**
 * Closes holds (DOMAIN.md "Holds"), in order against the balances as the previous ones left them.
 * Every held unit first comes back, one `release` entry (positive, held drops) per balance the hold
 * took from; then the captured units are consumed at once (`consume`, negative: the consumption's
 * allocations are the held amounts in the hold's order, up to the captured quantity), and the units
 * left of a balance that expired or was voided meanwhile go where its other units went (`expire` /
 * `void`, negative) instead of being revived. An expiry is judged at the hold's `expires_at`, a capture or a
 * release when it was asked: what a balance still valid then would have got back is given back, however late the
 * sweep or the worker.
 */
export function planClosings(
  lots: readonly HeldLot[],
  closings: readonly HoldClosing[],
  now: Date,
  /** The usable total of each (client, credit type) pair before the closings (`usablePair`): what a capture answers. */
  usable: ReadonlyMap<string, Scaled> = new Map(),
): ClosingPlan {
  const state = new Map(lots.map((l) => [l.id, { ...l }]));
  const usableNow = new Map(usable);
  const totals = new Map<string, Required<Pick<BalanceChange, 'consumed' | 'expired' | 'voided' | 'held'>>>();
  const plan: ClosingPlan = {
    holds: [],
    consumptions: [],
    consumptionAllocations: [],
    balanceChanges: [],
    ledgerEntries: [],
    events: [],
  };

  for (const closing of closings) {
    const { hold } = closing;
    const ordered = [...closing.allocations].sort((a, b) => a.position - b.position);
    let toCapture = closing.action === 'capture' ? (closing.quantity ?? hold.quantity) : 0n;
    let released = 0n;
    let releasedUsable = 0n;
    let lapsed = 0n;
    const consumptionId = closing.consumptionId ?? null;
    // a capture is a use dated when it was asked, like a consumption by its accepted_at
    const usedAt = closing.askedAt ?? now;
    // a capture or a release gives its units back when it was asked, an expired hold at its expires_at (the sweep
    // only comes later): a balance still valid then gets them, however late the worker or the sweep, and its own
    // expiry (rollover included) deals with them — only a balance that had expired by then lets them lapse
    const returnedAt = closing.action === 'expire' ? (hold.expires_at < now ? hold.expires_at : now) : usedAt;
    const entry = (lot: HeldLot, kind: LedgerEntryDraft['kind'], amount: Scaled): LedgerEntryDraft => ({
      balance_id: lot.id,
      client_id: lot.clientId,
      credit_type_id: lot.creditTypeId,
      subscription_id: lot.subscriptionId,
      kind,
      amount,
      remaining_after: lot.remaining,
      consumption_id: kind === 'consume' ? consumptionId : null,
      job_id: closing.jobId,
      reason: holdReason(hold.id),
      // an expiry's entries take effect when the hold ended, before what its balance's own expiry wrote (a lapse
      // into a balance voided since: when it was voided, expiryEffect); a capture's or a release's when written —
      // a read as of an instant before then saw the hold still held (ledger.ts HOLD_EXPIRED_BY reads an entry dated
      // before it was written as an expiry owed by then), though its units are judged as of when it was asked
      effective_at:
        kind === 'consume' ? usedAt : closing.action === 'expire' ? expiryEffect(lot, kind, returnedAt) : now,
      created_at: now,
    });
    for (const allocation of ordered) {
      const lot = state.get(allocation.balance_id);
      if (!lot) throw new Error(`balance ${allocation.balance_id} of hold ${hold.id} was not locked`);
      const total = totals.get(lot.id) ?? { consumed: 0n, expired: 0n, voided: 0n, held: 0n };
      totals.set(lot.id, total);
      const take = minScaled(allocation.amount, toCapture);
      toCapture -= take;
      const rest = allocation.amount - take;
      total.held -= allocation.amount;
      // every unit this balance held comes back in ONE entry, then the captured part is consumed from it:
      // two rows for a partial capture rather than three (a release each side of the consumption)
      lot.remaining += allocation.amount;
      plan.ledgerEntries.push(entry(lot, 'release', allocation.amount));
      if (take > 0n) {
        lot.remaining -= take;
        plan.ledgerEntries.push(entry(lot, 'consume', -take));
        total.consumed += take;
        plan.consumptionAllocations.push({ consumption_id: consumptionId!, balance_id: lot.id, amount: take });
      }
      if (rest > 0n) {
        if (revivable(lot, returnedAt)) {
          released += rest;
          // usable now: not on a balance that has expired since they came back (nor a frozen or suspended one)
          if (lot.spendable !== false && lot.frozen !== true && lot.expiresAt > now) releasedUsable += rest;
        } else {
          lot.remaining -= rest;
          const kind = lot.status === 'void' ? 'void' : 'expire';
          plan.ledgerEntries.push(entry(lot, kind, -rest));
          if (kind === 'void') total.voided += rest;
          else total.expired += rest;
          lapsed += rest;
        }
      }
    }
    const captured = closing.action === 'capture' ? (closing.quantity ?? hold.quantity) : 0n;
    const pair = usablePair(hold.client_id, hold.credit_type_id);
    const usableAfter = (usableNow.get(pair) ?? 0n) + releasedUsable;
    usableNow.set(pair, usableAfter);
    plan.holds.push({
      ...hold,
      status: closing.action === 'capture' ? 'captured' : closing.action === 'release' ? 'released' : 'expired',
      captured,
      released,
      lapsed,
      consumption_id: consumptionId,
      job_id: closing.jobId,
      closed_at: now,
      updated_at: now,
    });
    const q = (v: Scaled) => formatQuantity(v, closing.creditType.decimals);
    if (closing.action === 'capture') {
      plan.consumptions.push({
        id: consumptionId!,
        client_id: hold.client_id,
        credit_type_id: hold.credit_type_id,
        idempotency_key: captureKey(hold.id),
        request_hash: captureKey(hold.id),
        quantity: captured,
        applied: captured,
        shortfall: 0n,
        mode: 'reject',
        status: 'applied',
        error_code: null,
        remaining_after: usableAfter,
        occurred_at: usedAt,
        reference: hold.reference,
        metadata: hold.metadata,
        job_id: closing.jobId,
        reversed_at: null,
        reversal_returned: null,
        reversal_expired: null,
        created_at: now,
      });
    }
    if (closing.action === 'expire') {
      plan.events.push({
        type: 'hold.expired',
        clientId: hold.client_id,
        subjectId: hold.id,
        data: {
          hold_id: hold.id,
          client_id: hold.client_id,
          client_external_ref: closing.client.externalRef,
          credit_type: toCreditTypeBrief(closing.creditType),
          quantity: q(hold.quantity),
          released: q(released),
          lapsed: q(lapsed),
          expires_at: hold.expires_at.toISOString(),
          idempotency_key: hold.idempotency_key,
          reference: hold.reference,
        },
      });
    }
  }
  for (const [id, total] of totals) {
    plan.balanceChanges.push({ id, remaining: state.get(id)!.remaining, ...total });
  }
  return plan;
}

/** The key of a (client, credit type) pair among usable totals. */
export const usablePair = (clientId: string, creditTypeId: string): string => `${clientId}\u0000${creditTypeId}`;

/** The idempotency key of the consumption a hold's capture makes: one per hold. */
export const captureKey = (holdId: string): string => `${CAPTURE_KEY_PREFIX}${holdId}`;

/**
 * Whether a capture asks what a captured hold's capture took, and so repeats it (API.md: "again → same answer"): the
 * same quantity, an omitted one standing for what its default is, all the hold holds — whether the first capture gave
 * that quantity or gave none. Another quantity is another capture, which a captured hold refuses (`conflict`), as it
 * refuses a release: a hold is captured once, at one quantity.
 */
export const repeatsCapture = (
  hold: { quantity: Scaled; captured: Scaled | null },
  quantity: Scaled | undefined,
): boolean => hold.captured !== null && (quantity ?? hold.quantity) === hold.captured;

/** The refusal of a capture that asks another quantity than a captured hold's capture took. */
export const capturedOtherwise = (
  hold: { id: string; quantity: Scaled; captured: Scaled | null },
  quantity: Scaled | undefined,
  decimals: number,
): Failure =>
  fail(
    'conflict',
    `hold ${hold.id} was captured for ${formatQuantity(hold.captured ?? 0n, decimals)}: a capture of ` +
      `${formatQuantity(quantity ?? hold.quantity, decimals)}${quantity === undefined ? ' (all it held)' : ''} is ` +
      'another capture',
  );
