import type { BalanceStatus } from './balance-change.js';
import type { Scaled } from './quantity.js';
import type { SubscriptionStatus } from './renewal.js';

/** The ledger of one balance up to an instant: its first entry (the grant) and the sum and count of each later kind. */
export interface LedgerUpTo {
  /** Amount of the balance's first entry (its grant, whatever its kind). */
  first: Scaled;
  /** Entries after the first, by kind: Σ amount and how many. Kinds this file does not know are kept too. */
  later: ReadonlyMap<string, { amount: Scaled; count: number }>;
}

/** A balance's running totals at an instant, as the balances table would have held them then. */
export interface BalanceTotals {
  granted: Scaled;
  remaining: Scaled;
  consumed: Scaled;
  adjusted: Scaled;
  expired: Scaled;
  voided: Scaled;
  rolledOver: Scaled;
  /** Reserved by open holds: −(Σ hold + Σ release); a capture releases, then consumes. */
  held: Scaled;
  status: BalanceStatus;
}

const sumOf = (ledger: LedgerUpTo, kind: string): Scaled => ledger.later.get(kind)?.amount ?? 0n;
const seen = (ledger: LedgerUpTo, kind: string): boolean => (ledger.later.get(kind)?.count ?? 0) > 0;

/**
 * DOMAIN.md "As of": a balance as it stood at `at`, from its ledger alone. `remaining` is the
 * invariant's `granted + Σ(later amounts)` over EVERY kind, so any kind (hold, release, extend, one
 * added later) moves it as it moved the live row; the running totals take the kinds they are made
 * of (consumed = −consume − reverse, adjusted = adjust, expired = −expire, voided = −void,
 * rolled_over = −rollover, held = −hold − release). The status is `void` once such an entry exists,
 * `expired` once an `expire` entry exists and nothing is left (a hold's lapse expires its held units alone, before
 * the sweep); a balance the sweep expired with nothing left writes no entry, so one whose
 * `current` status is `expired` and that had nothing left at `at`, past its `expires_at`, is expired
 * too (with units left it stays `active`, and its units count as expired by their validity, as the
 * live answer counts an unswept one).
 */
export function balanceAt(
  ledger: LedgerUpTo,
  current: { status: BalanceStatus; expiresAt: Date },
  at: Date,
): BalanceTotals {
  let remaining = ledger.first;
  for (const { amount } of ledger.later.values()) remaining += amount;
  // an expire entry that left units on the balance is not the sweep's (which leaves nothing): a hold closed after
  // the balance's expiry lets only its held units lapse, and the free ones wait for the sweep
  const status: BalanceStatus = seen(ledger, 'void')
    ? 'void'
    : remaining === 0n &&
        (seen(ledger, 'expire') || (current.status === 'expired' && current.expiresAt.getTime() <= at.getTime()))
      ? 'expired'
      : 'active';
  return {
    granted: ledger.first,
    remaining,
    consumed: -sumOf(ledger, 'consume') - sumOf(ledger, 'reverse'),
    adjusted: sumOf(ledger, 'adjust'),
    expired: -sumOf(ledger, 'expire'),
    voided: -sumOf(ledger, 'void'),
    rolledOver: -sumOf(ledger, 'rollover'),
    held: -sumOf(ledger, 'hold') - sumOf(ledger, 'release'),
    status,
  };
}

/** A freeze of the subscription: the clock stopped at `frozenAt` and restarted at `unfrozenAt` (null: still frozen). */
export interface FreezeSpan {
  frozenAt: Date;
  unfrozenAt: Date | null;
}

/** A span of time from `from` until `until` (not included; null: not ended, or ended with its subscription). */
export interface StatusSpan {
  from: Date;
  until: Date | null;
}

const spanCovers = (s: StatusSpan, t: number): boolean =>
  s.from.getTime() <= t && (s.until === null || t < s.until.getTime());
const covers = (spans: readonly StatusSpan[], t: number): boolean => spans.some((s) => spanCovers(s, t));
const freezeSpan = (f: FreezeSpan): StatusSpan => ({ from: f.frozenAt, until: f.unfrozenAt });

/** When the freeze covering `at` began (`frozenAt <= at < unfrozenAt`), or null when none covers it. */
export function frozenAtAt(freezes: readonly FreezeSpan[], at: Date): Date | null {
  return freezes.find((f) => spanCovers(freezeSpan(f), at.getTime()))?.frozenAt ?? null;
}

/** What is kept of a subscription's past: when it ended, when it was activated, its freezes and suspensions. */
export interface SubscriptionHistory {
  /** When it expired or was cancelled, for one that did (null or absent: unknown, ended long ago). */
  endedAt?: Date | null | undefined;
  /** When it became active (null: never — bought on payment and not paid; absent: unknown). */
  activatedAt?: Date | null | undefined;
  freezes?: readonly FreezeSpan[];
  suspensions?: readonly StatusSpan[];
  /** Its lapses: expired from the end of a period not renewed until a late renewal (null: not renewed since). */
  lapses?: readonly StatusSpan[];
}

/**
 * The status of a subscription at a past instant, as far as what is kept can tell. What the past
 * statuses changed is in the ledger already (an expired or cancelled subscription's balances carry
 * their `expire` / `void` entries), and activations, freezes and suspensions are kept with their times:
 * - `expired` or `cancelled` now: that status from when it ended (`endedAt`; unknown: ended long ago),
 *   and before it as below;
 * - `expired` while one of its lapses covers `at` (from the end of a period not renewed until a late renewal), though
 *   it is active again now (as the reports' pictures of a past instant have it: db/reports/as-of.ts);
 * - `pending` before it was activated (never activated: until it ended, or still);
 * - frozen at `at` if one of its freezes covers it (`frozenAt <= at < unfrozenAt`);
 * - suspended at `at` if one of its suspensions covers it;
 * - otherwise `active` for a subscription frozen, suspended or ended now, and its status now for the rest.
 * A subscription suspended now of which no suspension is known (none was recorded before 0025 could
 * fill it) is taken as suspended, as it is now.
 */
export function subscriptionStatusAt(
  current: SubscriptionStatus | null,
  history: SubscriptionHistory,
  at: Date,
): SubscriptionStatus | null {
  if (current === null) return null;
  const { endedAt, activatedAt, freezes = [], suspensions = [], lapses = [] } = history;
  const t = at.getTime();
  const ended = (current === 'expired' || current === 'cancelled') && !(endedAt && t < endedAt.getTime());
  if (ended) return current;
  if (covers(lapses, t)) return 'expired';
  if (activatedAt === null || (activatedAt && t < activatedAt.getTime())) return 'pending';
  const frozen = freezes.map(freezeSpan);
  if (covers(frozen, t)) return 'frozen';
  if (covers(suspensions, t)) return 'suspended';
  if (current === 'suspended' && suspensions.length === 0) return current;
  if (current === 'frozen' || current === 'expired' || current === 'cancelled' || current === 'suspended')
    return 'active';
  return current;
}
