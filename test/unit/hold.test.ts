import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Lot } from '../../src/domain/allocate.js';
import {
  type HeldLot,
  type HoldAllocationRecord,
  type HoldClosing,
  type HoldRecord,
  type PreparedHold,
  planClosings,
  planHolds,
} from '../../src/domain/hold.js';
import { checkBalanceTotals } from '../../src/domain/invariants.js';

const NOW = new Date('2026-03-10T12:00:00Z');
const LATER = new Date('2026-04-01T00:00:00Z');
const client = { id: 'c', externalRef: 'crm-1' };
const creditType = { id: 't', code: 'sms', unit: 'message', decimals: 0 };

function lot(id: string, remaining: bigint, expiresAt = LATER, priority = 50): Lot {
  return {
    id,
    clientId: 'c',
    creditTypeId: 't',
    subscriptionId: 's',
    granted: 100n,
    remaining,
    priority,
    validFrom: new Date('2026-03-01T00:00:00Z'),
    expiresAt,
    lowThreshold: 0n,
    autoRechargeThreshold: null,
  };
}

function prepared(id: string, quantity: bigint, index = 0): PreparedHold {
  return {
    index,
    id,
    client,
    creditType,
    quantity,
    occurredAt: NOW,
    mode: 'reject',
    hash: `hash-${id}`,
    report: { client: 'c', credit_type: 't', quantity: String(quantity), idempotency_key: id },
    jobId: `hold|c|${id}`,
    expiresAt: new Date(NOW.getTime() + 900_000),
  };
}

function heldHold(id: string, quantity: bigint): HoldRecord {
  return {
    id,
    client_id: 'c',
    credit_type_id: 't',
    idempotency_key: id,
    request_hash: 'h',
    quantity,
    status: 'held',
    error_code: null,
    remaining_after: 0n,
    expires_at: LATER,
    reference: null,
    metadata: null,
    captured: null,
    released: null,
    lapsed: null,
    consumption_id: null,
    job_id: null,
    closed_at: null,
    created_at: NOW,
    updated_at: NOW,
  };
}

const held = (id: string, remaining: bigint, over: Partial<HeldLot> = {}): HeldLot => ({
  id,
  clientId: 'c',
  creditTypeId: 't',
  subscriptionId: 's',
  remaining,
  status: 'active',
  expiresAt: LATER,
  ...over,
});

const closing = (
  hold: HoldRecord,
  allocations: HoldAllocationRecord[],
  action: HoldClosing['action'],
  quantity?: bigint,
): HoldClosing => ({
  hold,
  allocations,
  action,
  ...(quantity !== undefined ? { quantity } : {}),
  ...(action === 'capture' ? { consumptionId: 'u' } : {}),
  jobId: 'job',
  client,
  creditType,
});

describe('DOMAIN "Holds": a hold takes units in the spending order with the burn-down of a consumption', () => {
  it('takes the soonest-expiring balance first, remaining drops and held grows by the same', () => {
    const plan = planHolds([lot('b', 10n), lot('a', 3n, new Date('2026-03-20T00:00:00Z'))], [prepared('h', 5n)], NOW);
    expect(plan.holds[0]).toMatchObject({ status: 'held', quantity: 5n, remaining_after: 8n });
    expect(plan.allocations).toEqual([
      { hold_id: 'h', balance_id: 'a', amount: 3n, position: 0 },
      { hold_id: 'h', balance_id: 'b', amount: 2n, position: 1 },
    ]);
    expect(plan.balanceChanges).toEqual(
      expect.arrayContaining([
        { id: 'a', remaining: 0n, held: 3n, lowNotifiedAt: NOW },
        { id: 'b', remaining: 8n, held: 2n },
      ]),
    );
    expect(plan.ledgerEntries.map((e) => [e.balance_id, e.kind, e.amount, e.remaining_after])).toEqual([
      ['a', 'hold', -3n, 0n],
      ['b', 'hold', -2n, 8n],
    ]);
  });

  it('a hold that takes a balance to its threshold or to zero tells it, like a use', () => {
    const soon = new Date('2026-03-20T00:00:00Z');
    const plan = planHolds([{ ...lot('a', 10n), lowThreshold: 5n }, lot('b', 2n, soon)], [prepared('h', 9n)], NOW);
    expect(plan.events.map((e) => [e.type, e.subjectId, e.data.hold_id])).toEqual([
      ['balance.low', 'b', 'h'],
      ['balance.depleted', 'b', 'h'],
      ['balance.low', 'a', 'h'],
    ]);
    expect(plan.balanceChanges.find((c) => c.id === 'a')?.lowNotifiedAt).toEqual(NOW);
  });

  it('rejects a hold that does not fit, all or nothing, and the next one still sees every unit', () => {
    const plan = planHolds([lot('a', 4n)], [prepared('big', 5n, 0), prepared('small', 4n, 1)], NOW);
    expect(plan.holds.map((h) => [h.id, h.status, h.error_code])).toEqual([
      ['big', 'rejected', 'insufficient_balance'],
      ['small', 'held', null],
    ]);
    expect(plan.allocations.map((a) => a.hold_id)).toEqual(['small']);
  });

  it('records a hold already past its expires_at as expired, reserving nothing; the next one sees every unit', () => {
    // asked 20 minutes before its worker took it, for 15: it had ended
    const late = { ...prepared('late', 3n, 0), occurredAt: new Date(NOW.getTime() - 1_200_000) };
    late.expiresAt = new Date(late.occurredAt.getTime() + 900_000);
    // the instant it ends is already too late (an expiry is judged at expires_at, as heldPastExpiry judges it)
    const onTheDot = { ...prepared('dot', 1n, 1), expiresAt: NOW };
    const plan = planHolds([lot('a', 4n)], [late, onTheDot, prepared('next', 4n, 2)], NOW);
    expect(plan.holds.map((h) => [h.id, h.status, h.error_code, h.remaining_after, h.released, h.closed_at])).toEqual([
      ['late', 'expired', null, 4n, 0n, NOW],
      ['dot', 'expired', null, 4n, 0n, NOW],
      ['next', 'held', null, 0n, null, null],
    ]);
    expect(plan.allocations.map((a) => [a.hold_id, a.amount])).toEqual([['next', 4n]]);
    expect(plan.ledgerEntries.map((e) => [e.reason, e.amount])).toEqual([['hold next', -4n]]);
    expect(plan.balanceChanges).toEqual([expect.objectContaining({ id: 'a', remaining: 0n, held: 4n })]);
    expect(plan.events.filter((e) => e.type === 'hold.expired')).toEqual([
      expect.objectContaining({ subjectId: 'late', data: expect.objectContaining({ quantity: '3', released: '0' }) }),
      expect.objectContaining({ subjectId: 'dot', data: expect.objectContaining({ quantity: '1', lapsed: '0' }) }),
    ]);
    expect(plan.taken.get('late')).toEqual({ row: plan.holds[0], allocations: [] });
  });
});

describe('DOMAIN "Holds": capture, release, expiry', () => {
  const allocations: HoldAllocationRecord[] = [
    { hold_id: 'h', balance_id: 'b', amount: 5n, position: 1 },
    { hold_id: 'h', balance_id: 'a', amount: 3n, position: 0 },
  ];

  it("a partial capture consumes in the hold's order and releases the rest", () => {
    const plan = planClosings(
      [held('a', 0n), held('b', 5n)],
      [closing(heldHold('h', 8n), allocations, 'capture', 4n)],
      NOW,
    );
    expect(plan.consumptionAllocations).toEqual([
      { consumption_id: 'u', balance_id: 'a', amount: 3n },
      { consumption_id: 'u', balance_id: 'b', amount: 1n },
    ]);
    expect(plan.ledgerEntries.map((e) => [e.balance_id, e.kind, e.amount, e.remaining_after])).toEqual([
      ['a', 'release', 3n, 3n],
      ['a', 'consume', -3n, 0n],
      // one release of all b held, then the captured unit consumed: two rows, not three
      ['b', 'release', 5n, 10n],
      ['b', 'consume', -1n, 9n],
    ]);
    expect(plan.holds[0]).toMatchObject({ status: 'captured', captured: 4n, released: 4n, lapsed: 0n });
    expect(plan.consumptions[0]).toMatchObject({ id: 'u', quantity: 4n, applied: 4n, status: 'applied' });
    expect(plan.balanceChanges).toEqual([
      { id: 'a', remaining: 0n, consumed: 3n, expired: 0n, voided: 0n, held: -3n },
      { id: 'b', remaining: 9n, consumed: 1n, expired: 0n, voided: 0n, held: -5n },
    ]);
  });

  it.each<{ label: string; over: Partial<HeldLot>; kind: 'expire' | 'void' }>([
    { label: 'expired by the sweep', over: { status: 'expired' }, kind: 'expire' },
    { label: 'past its expiry, not swept yet', over: { expiresAt: NOW }, kind: 'expire' },
    { label: 'voided by a cancellation', over: { status: 'void' }, kind: 'void' },
  ])('a release does not revive units of a balance $label', ({ over, kind }) => {
    const plan = planClosings(
      [held('a', 0n, over), held('b', 5n)],
      [closing(heldHold('h', 8n), allocations, 'release')],
      NOW,
    );
    expect(plan.ledgerEntries.map((e) => [e.balance_id, e.kind, e.amount, e.remaining_after])).toEqual([
      ['a', 'release', 3n, 3n],
      ['a', kind, -3n, 0n],
      ['b', 'release', 5n, 10n],
    ]);
    expect(plan.holds[0]).toMatchObject({ status: 'released', released: 5n, lapsed: 3n, captured: 0n });
  });

  it('a release revives units of a frozen subscription past its old expiry (the freeze moves it later)', () => {
    const plan = planClosings(
      [held('a', 0n, { expiresAt: NOW, frozen: true }), held('b', 5n)],
      [closing(heldHold('h', 8n), allocations, 'release')],
      NOW,
    );
    expect(plan.holds[0]).toMatchObject({ status: 'released', released: 8n, lapsed: 0n });
  });

  it('an expiry releases like a release and records hold.expired', () => {
    const plan = planClosings([held('a', 0n), held('b', 5n)], [closing(heldHold('h', 8n), allocations, 'expire')], NOW);
    expect(plan.holds[0]).toMatchObject({ status: 'expired', released: 8n });
    expect(plan.events.map((e) => [e.type, e.subjectId, e.data.released])).toEqual([['hold.expired', 'h', '8']]);
  });

  it('every closing keeps remaining + held + consumed + expired constant per balance (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.bigInt({ min: 1n, max: 50n }), { minLength: 1, maxLength: 4 }),
        fc.constantFrom<HoldClosing['action']>('capture', 'release', 'expire'),
        fc.bigInt({ min: 0n, max: 200n }),
        fc.boolean(),
        (amounts, action, wanted, firstExpired) => {
          const total = amounts.reduce((a, b) => a + b, 0n);
          const lots = amounts.map((_, i) => held(`l${i}`, 7n, i === 0 && firstExpired ? { status: 'expired' } : {}));
          const allocs = amounts.map((amount, i) => ({ hold_id: 'h', balance_id: `l${i}`, amount, position: i }));
          const quantity = action === 'capture' ? (wanted % total) + 1n : undefined;
          const plan = planClosings(lots, [closing(heldHold('h', total), allocs, action, quantity)], NOW);
          for (const change of plan.balanceChanges) {
            const before = lots.find((l) => l.id === change.id)!.remaining;
            // remaining went up by what was released and nothing else; held gave up its whole amount
            const sum = change.remaining - before + (change.consumed ?? 0n) + (change.expired ?? 0n);
            expect(sum).toBe(-(change.held ?? 0n));
          }
          const hold = plan.holds[0]!;
          expect((hold.captured ?? 0n) + (hold.released ?? 0n) + (hold.lapsed ?? 0n)).toBe(total);
          const ledgerSum = plan.ledgerEntries.reduce((s, e) => s + e.amount, 0n);
          expect(ledgerSum).toBe(plan.balanceChanges.reduce((s, c) => s + c.remaining, 0n) - 7n * BigInt(lots.length));
        },
      ),
    );
  });
});

describe('DOMAIN "Invariants": held units balance', () => {
  const facts = {
    id: 'b',
    consumed: 3n,
    adjusted: 0n,
    expired: 0n,
    voided: 0n,
    rolledOver: 0n,
    held: 4n,
    ledgerConsume: -3n,
    ledgerReverse: 0n,
    ledgerAdjust: 0n,
    ledgerExpire: 0n,
    ledgerVoid: 0n,
    ledgerRolloverOut: 0n,
    ledgerHold: -7n,
    ledgerRelease: 3n,
    openHolds: 4n,
    lastRemainingAfter: 3n,
    remaining: 3n,
    brokenChainEntries: 0,
  };
  it('held = −(hold + release entries) = what the open holds reserve', () => {
    expect(checkBalanceTotals(facts)).toEqual([]);
  });
  it.each([
    { label: 'the ledger', over: { ledgerRelease: 2n }, invariant: 'balance_ledger_sum' },
    { label: 'the open holds', over: { openHolds: 5n }, invariant: 'balance_held' },
  ])('names a held total that disagrees with $label', ({ over, invariant }) => {
    expect(checkBalanceTotals({ ...facts, ...over }).map((v) => v.invariant)).toEqual([invariant]);
  });
});
