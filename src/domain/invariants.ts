import type { Scaled } from './quantity.js';

/**
 * The invariants of DOMAIN.md, as checks over facts read from the store. `verify` feeds them
 * from SQL aggregates; the property tests feed them after every step of a random history.
 */
export interface Violation {
  invariant:
    | 'balance_ledger_sum'
    | 'balance_first_entry'
    | 'balance_negative'
    | 'balance_held'
    | 'consumption_allocations'
    | 'consumption_ledger'
    | 'invoice_numbers'
    | 'invoice_total'
    | 'hold_consumption';
  subject: string;
  detail: string;
}

export interface BalanceFacts {
  id: string;
  granted: Scaled;
  remaining: Scaled;
  /** Amount of the balance's first ledger entry (its grant), or null when it has none. */
  firstEntryAmount: Scaled | null;
  /** Σ of every ledger amount of the balance, the grant included. */
  ledgerSum: Scaled;
}

/** `granted + Σ(ledger amounts after the grant) = remaining`, and `0 <= remaining`. */
export function checkBalance(facts: BalanceFacts): Violation[] {
  const violations: Violation[] = [];
  const subject = `balance ${facts.id}`;
  if (facts.remaining < 0n) {
    violations.push({ invariant: 'balance_negative', subject, detail: `remaining is ${facts.remaining}` });
  }
  if (facts.firstEntryAmount === null || facts.firstEntryAmount !== facts.granted) {
    violations.push({
      invariant: 'balance_first_entry',
      subject,
      detail: `granted is ${facts.granted} but its first ledger entry is ${facts.firstEntryAmount ?? 'missing'}`,
    });
  }
  if (facts.ledgerSum !== facts.remaining) {
    violations.push({
      invariant: 'balance_ledger_sum',
      subject,
      detail:
        `granted + later ledger entries = ${facts.ledgerSum}, but remaining is ${facts.remaining} (off by ` +
        `${facts.remaining - facts.ledgerSum})`,
    });
  }
  return violations;
}

export interface ConsumptionFacts {
  id: string;
  status: 'applied' | 'partial' | 'rejected' | 'reversed';
  applied: Scaled;
  allocationSum: Scaled;
  /** −Σ of its `consume` ledger entries (what was taken). */
  consumedInLedger: Scaled;
  /** Σ of its `reverse` ledger entries (what was given back). */
  reversedInLedger: Scaled;
  /** −Σ of its `expire` ledger entries: what its reversal gave back to a balance no longer usable, expired there. */
  expiredInLedger: Scaled;
  /** What its reversal recorded as returned (0 when not reversed). */
  reversalReturned: Scaled;
  /** What its reversal recorded as expired (0 when not reversed). */
  reversalExpired: Scaled;
}

/** Σ allocations = applied quantity; the ledger took exactly that, once; a reversal gave back what it says. */
export function checkConsumption(facts: ConsumptionFacts): Violation[] {
  const violations: Violation[] = [];
  const subject = `consumption ${facts.id}`;
  if (facts.allocationSum !== facts.applied) {
    violations.push({
      invariant: 'consumption_allocations',
      subject,
      detail: `allocations sum to ${facts.allocationSum} but applied is ${facts.applied}`,
    });
  }
  if (facts.consumedInLedger !== facts.applied) {
    violations.push({
      invariant: 'consumption_ledger',
      subject,
      detail: `the ledger took ${facts.consumedInLedger} but applied is ${facts.applied}`,
    });
  }
  if (facts.status === 'rejected' && facts.applied !== 0n) {
    violations.push({ invariant: 'consumption_ledger', subject, detail: `rejected but applied is ${facts.applied}` });
  }
  // a part given back to a balance no longer usable is expired there at once (rule 5): what stays given back is
  // what the reversal returned. A reversal from before that rule wrote neither entry for its expired part (0, 0)
  const kept = facts.reversedInLedger - facts.expiredInLedger;
  if (kept !== facts.reversalReturned) {
    violations.push({
      invariant: 'consumption_ledger',
      subject,
      detail: `the ledger gave back ${kept} but the reversal returned ${facts.reversalReturned}`,
    });
  }
  if (facts.expiredInLedger !== 0n && facts.expiredInLedger !== facts.reversalExpired) {
    violations.push({
      invariant: 'consumption_ledger',
      subject,
      detail:
        `the ledger expired ${facts.expiredInLedger} on giving back ` +
        `but the reversal expired ${facts.reversalExpired}`,
    });
  }
  if (facts.status !== 'reversed' && facts.reversedInLedger !== 0n) {
    violations.push({
      invariant: 'consumption_ledger',
      subject,
      detail: `not reversed but the ledger gave back ${facts.reversedInLedger}`,
    });
  }
  return violations;
}

/** Invoice numbers of one year are 1..n with no gap and no repeat. */
export function checkInvoiceSequence(year: number, sequence: readonly number[]): Violation[] {
  const sorted = [...sequence].sort((a, b) => a - b);
  const violations: Violation[] = [];
  for (let i = 0; i < sorted.length; i += 1) {
    const expected = i + 1;
    const got = sorted[i];
    if (got !== expected) {
      violations.push({
        invariant: 'invoice_numbers',
        subject: `invoices of ${year}`,
        detail:
          got !== undefined && i > 0 && got === sorted[i - 1]
            ? `number ${got} is used twice`
            : got !== undefined && got < 1
              ? `number ${got} is out of range (numbers start at 1)`
              : `number ${expected} is missing (next is ${got})`,
      });
      break;
    }
  }
  return violations;
}

export interface BalanceTotalsFacts {
  id: string;
  /** The balance's running totals, as stored. */
  consumed: Scaled;
  adjusted: Scaled;
  expired: Scaled;
  voided: Scaled;
  rolledOver: Scaled;
  held: Scaled;
  /** The same, summed from its ledger entries by kind (signs as written: a consume is negative). */
  ledgerConsume: Scaled;
  ledgerReverse: Scaled;
  ledgerAdjust: Scaled;
  ledgerExpire: Scaled;
  ledgerVoid: Scaled;
  /** Σ of its negative `rollover` entries (units moved out to the next period). */
  ledgerRolloverOut: Scaled;
  /** Σ of its `hold` (negative) and `release` (positive) entries: −(their sum) is what is still held. */
  ledgerHold: Scaled;
  ledgerRelease: Scaled;
  /** Σ of what the holds still open reserve of it (their allocations). */
  openHolds: Scaled;
  /** remaining_after of its last entry, and its remaining. */
  lastRemainingAfter: Scaled | null;
  remaining: Scaled;
  /** Entries whose remaining_after is not the previous one plus their amount. */
  brokenChainEntries: number;
}

/** The running totals agree with the ledger, and the ledger's remaining_after chain is unbroken. */
export function checkBalanceTotals(facts: BalanceTotalsFacts): Violation[] {
  const violations: Violation[] = [];
  const subject = `balance ${facts.id}`;
  const compare = (name: string, stored: Scaled, fromLedger: Scaled) => {
    if (stored !== fromLedger)
      violations.push({
        invariant: 'balance_ledger_sum',
        subject,
        detail: `${name} is ${stored} but its ledger entries say ${fromLedger}`,
      });
  };
  compare('consumed', facts.consumed, -(facts.ledgerConsume + facts.ledgerReverse));
  compare('adjusted', facts.adjusted, facts.ledgerAdjust);
  compare('expired', facts.expired, -facts.ledgerExpire);
  compare('voided', facts.voided, -facts.ledgerVoid);
  compare('rolled_over', facts.rolledOver, -facts.ledgerRolloverOut);
  compare('held', facts.held, -(facts.ledgerHold + facts.ledgerRelease));
  if (facts.held !== facts.openHolds)
    violations.push({
      invariant: 'balance_held',
      subject,
      detail: `held is ${facts.held} but its open holds reserve ${facts.openHolds}`,
    });
  if (facts.held < 0n) violations.push({ invariant: 'balance_held', subject, detail: `held is ${facts.held}` });
  if (facts.lastRemainingAfter !== null && facts.lastRemainingAfter !== facts.remaining) {
    violations.push({
      invariant: 'balance_ledger_sum',
      subject,
      detail: `its last ledger entry leaves ${facts.lastRemainingAfter} but remaining is ${facts.remaining}`,
    });
  }
  if (facts.brokenChainEntries > 0) {
    violations.push({
      invariant: 'balance_ledger_sum',
      subject,
      detail:
        `${facts.brokenChainEntries} ledger entr${facts.brokenChainEntries === 1 ? 'y does' : 'ies do'} not follow ` +
        'from the one before (remaining_after ≠ previous + amount)',
    });
  }
  return violations;
}

/** An invoice's total is the sum of its lines. */
export function checkInvoiceTotal(facts: {
  id: string;
  number: string;
  total: bigint;
  linesTotal: bigint;
}): Violation[] {
  return facts.total === facts.linesTotal
    ? []
    : [
        {
          invariant: 'invoice_total',
          subject: `invoice ${facts.number}`,
          detail: `total is ${facts.total} but its lines add up to ${facts.linesTotal}`,
        },
      ];
}

/**
 * A captured hold names the consumption its capture made, and that consumption exists: the closing writes both in one
 * statement (the database no longer checks the reference on that hot path: migration 0024).
 */
export function checkCapturedHold(facts: {
  id: string;
  consumptionId: string | null;
  consumptionExists: boolean;
}): Violation[] {
  if (facts.consumptionId !== null && facts.consumptionExists) return [];
  return [
    {
      invariant: 'hold_consumption',
      subject: `hold ${facts.id}`,
      detail:
        facts.consumptionId === null
          ? 'it was captured but names no consumption'
          : `it was captured into consumption ${facts.consumptionId}, which does not exist`,
    },
  ];
}
