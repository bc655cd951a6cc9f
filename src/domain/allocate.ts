import { compareSpendingOrder } from './lock-order.js';
import type { Scaled } from './quantity.js';

/**
 * The burn-down: which balance pays for which use. One pure function over the balances a
 * transaction has locked and the uses it was asked to apply, in arrival order. Persistence,
 * locking and time live outside; this file decides.
 */

/** A balance (lot) as the burn-down sees it. The caller has already checked statuses. */
export interface Lot {
  id: string;
  clientId: string;
  creditTypeId: string;
  /** Null for an operator's grant: a balance of the client's own, spendable like any other. */
  subscriptionId: string | null;
  granted: Scaled;
  remaining: Scaled;
  /** Lower is spent first (a free package before a paid one). */
  priority: number;
  validFrom: Date;
  expiresAt: Date;
  /** `balance.low` fires when remaining falls from above this to at or below it. */
  lowThreshold: Scaled;
  /** When the subscription auto-recharges: the remaining at or below which it asks for a recharge. */
  autoRechargeThreshold: Scaled | null;
}

export type UseMode = 'reject' | 'partial';

export interface UseRequest {
  clientId: string;
  creditTypeId: string;
  quantity: Scaled;
  occurredAt: Date;
  mode: UseMode;
}

export interface Allocation {
  balanceId: string;
  amount: Scaled;
}

export type UseStatus = 'applied' | 'partial' | 'rejected';

export interface UseOutcome {
  status: UseStatus;
  quantity: Scaled;
  applied: Scaled;
  shortfall: Scaled;
  allocations: Allocation[];
  /** The client's total usable units of that credit type at `occurredAt`, after this use. */
  remaining: Scaled;
}

/** One ledger movement: a balance decreased by `amount` (positive) for request `requestIndex`. */
export interface LotMovement {
  requestIndex: number;
  balanceId: string;
  amount: Scaled;
  remainingAfter: Scaled;
}

export type CrossingKind = 'low' | 'depleted' | 'auto_recharge';

/** A threshold a balance crossed during the batch (reported once per balance and kind). */
export interface LotCrossing {
  kind: CrossingKind;
  balanceId: string;
  subscriptionId: string | null;
  clientId: string;
  creditTypeId: string;
  remaining: Scaled;
  /** The request whose deduction crossed it. */
  requestIndex: number;
}

export interface BurnDownResult {
  outcomes: UseOutcome[];
  movements: LotMovement[];
  crossings: LotCrossing[];
  /** Remaining of every lot that changed, after the whole batch. */
  changed: Map<string, Scaled>;
}

export { compareLockOrder, compareSpendingOrder } from './lock-order.js';

/**
 * The balances a burn-down changed, as their rows must change: the new remaining, what moved out of each
 * (`moved`: consumed by uses, held by holds), and when one fell to its low threshold (its notice is due once).
 */
export function changedLots(
  burn: BurnDownResult,
  now: Date,
): Array<{ id: string; remaining: Scaled; moved: Scaled; lowNotifiedAt?: Date }> {
  const movedByLot = new Map<string, Scaled>();
  for (const m of burn.movements) movedByLot.set(m.balanceId, (movedByLot.get(m.balanceId) ?? 0n) + m.amount);
  const wentLow = new Set(burn.crossings.filter((c) => c.kind === 'low').map((c) => c.balanceId));
  return [...burn.changed].map(([id, remaining]) => ({
    id,
    remaining,
    moved: movedByLot.get(id) ?? 0n,
    ...(wentLow.has(id) ? { lowNotifiedAt: now } : {}),
  }));
}

/** Rule 1 (the time part): `valid_from <= at < expires_at` and something left. */
export const isUsableAt = (lot: Pick<Lot, 'validFrom' | 'expiresAt' | 'remaining'>, at: Date): boolean =>
  lot.remaining > 0n && lot.validFrom.getTime() <= at.getTime() && at.getTime() < lot.expiresAt.getTime();

const pairKey = (clientId: string, creditTypeId: string) => `${clientId}\u0000${creditTypeId}`;

/**
 * Applies `requests` in order against `lots`. Each request sees the lots as the previous requests
 * left them, exactly as if they had run one transaction each in that order.
 */
export function burnDown(lots: readonly Lot[], requests: readonly UseRequest[]): BurnDownResult {
  const state = new Map<string, Lot>();
  const byPair = new Map<string, Lot[]>();
  for (const lot of lots) {
    const copy = { ...lot };
    state.set(lot.id, copy);
    const key = pairKey(lot.clientId, lot.creditTypeId);
    const list = byPair.get(key);
    if (list) list.push(copy);
    else byPair.set(key, [copy]);
  }
  for (const list of byPair.values()) list.sort(compareSpendingOrder);

  const outcomes: UseOutcome[] = [];
  const movements: LotMovement[] = [];
  const crossings: LotCrossing[] = [];
  const crossed = new Set<string>();
  const changed = new Map<string, Scaled>();

  const noteCrossing = (lot: Lot, before: Scaled, requestIndex: number) => {
    const after = lot.remaining;
    const record = (kind: CrossingKind) => {
      const key = `${kind}\u0000${lot.id}`;
      if (crossed.has(key)) return;
      crossed.add(key);
      crossings.push({
        kind,
        balanceId: lot.id,
        subscriptionId: lot.subscriptionId,
        clientId: lot.clientId,
        creditTypeId: lot.creditTypeId,
        remaining: after,
        requestIndex,
      });
    };
    // fell to a threshold with this use: from above it — or from untouched, for a threshold of the whole grant
    // (low_balance_percent or threshold_percent 100), which a full balance sits at before its first use
    const fellTo = (threshold: Scaled) => (before > threshold || before === lot.granted) && after <= threshold;
    if (fellTo(lot.lowThreshold)) record('low');
    if (before > 0n && after === 0n) record('depleted');
    if (lot.autoRechargeThreshold !== null && fellTo(lot.autoRechargeThreshold)) record('auto_recharge');
  };

  requests.forEach((request, requestIndex) => {
    const candidates = (byPair.get(pairKey(request.clientId, request.creditTypeId)) ?? []).filter((lot) =>
      isUsableAt(lot, request.occurredAt),
    );
    let available = 0n;
    for (const lot of candidates) available += lot.remaining;

    const short = available < request.quantity;
    if (short && (request.mode === 'reject' || available === 0n)) {
      outcomes.push({
        status: 'rejected',
        quantity: request.quantity,
        applied: 0n,
        shortfall: request.quantity - available,
        allocations: [],
        remaining: available,
      });
      return;
    }

    let left = request.quantity < available ? request.quantity : available;
    const applied = left;
    const allocations: Allocation[] = [];
    for (const lot of candidates) {
      if (left === 0n) break;
      // biome-ignore lint/complexity/useMathMinMax: bigints (Math.min takes numbers)
      const take = lot.remaining < left ? lot.remaining : left;
      if (take === 0n) continue;
      const before = lot.remaining;
      lot.remaining -= take;
      left -= take;
      allocations.push({ balanceId: lot.id, amount: take });
      movements.push({ requestIndex, balanceId: lot.id, amount: take, remainingAfter: lot.remaining });
      changed.set(lot.id, lot.remaining);
      noteCrossing(lot, before, requestIndex);
    }
    outcomes.push({
      status: short ? 'partial' : 'applied',
      quantity: request.quantity,
      applied,
      shortfall: request.quantity - applied,
      allocations,
      remaining: available - applied,
    });
  });

  return { outcomes, movements, crossings, changed };
}
