import { describe, expect, it } from 'vitest';
import { balanceAt, frozenAtAt, type LedgerUpTo, subscriptionStatusAt } from '../../src/domain/balance-as-of.js';

const at = new Date('2026-05-10T00:00:00Z');
const before = new Date('2026-05-01T00:00:00Z');
const ledger = (first: bigint, later: Record<string, [bigint, number]>): LedgerUpTo => ({
  first,
  later: new Map(Object.entries(later).map(([kind, [amount, count]]) => [kind, { amount, count }])),
});
const live = { status: 'active' as const, expiresAt: new Date('2026-06-01T00:00:00Z') };

describe('DOMAIN.md "As of": a balance replayed from its ledger', () => {
  it('the grant alone', () => {
    expect(balanceAt(ledger(100n, {}), live, at)).toEqual({
      granted: 100n,
      remaining: 100n,
      consumed: 0n,
      adjusted: 0n,
      expired: 0n,
      voided: 0n,
      rolledOver: 0n,
      held: 0n,
      status: 'active',
    });
  });

  it('each kind feeds its running total; remaining is the grant plus every later amount', () => {
    const totals = balanceAt(
      ledger(100n, { consume: [-50n, 3], reverse: [10n, 1], adjust: [5n, 1], rollover: [-20n, 1], expire: [-45n, 1] }),
      live,
      at,
    );
    expect(totals).toMatchObject({
      remaining: 0n,
      consumed: 40n,
      adjusted: 5n,
      rolledOver: 20n,
      expired: 45n,
      status: 'expired',
    });
  });

  it('a kind it does not know (a hold, an extend) still moves remaining, as it moved the row', () => {
    const totals = balanceAt(
      ledger(100n, { consume: [-10n, 1], hold: [-30n, 2], release: [5n, 1], extend: [0n, 1] }),
      live,
      at,
    );
    expect(totals).toMatchObject({ remaining: 65n, consumed: 10n, held: 25n, status: 'active' });
  });

  it('void wins over expire; an entry of 0 still says it happened', () => {
    expect(balanceAt(ledger(10n, { void: [-10n, 1] }), live, at).status).toBe('void');
    expect(balanceAt(ledger(10n, { consume: [-10n, 1], expire: [0n, 1] }), live, at).status).toBe('expired');
  });

  it('a balance swept with nothing left (no entry) is expired once past its expiry, with nothing left then', () => {
    const swept = { status: 'expired' as const, expiresAt: new Date('2026-05-05T00:00:00Z') };
    expect(balanceAt(ledger(10n, { consume: [-10n, 1] }), swept, at).status).toBe('expired');
    expect(balanceAt(ledger(10n, { consume: [-10n, 1] }), swept, before).status).toBe('active');
    expect(balanceAt(ledger(10n, {}), swept, at).status).toBe('active');
  });
});

describe('a subscription status at an instant', () => {
  const ended = new Date('2026-05-05T00:00:00Z');
  it.each([
    ['active', null, at, 'active'],
    ['suspended', null, at, 'suspended'],
    ['pending', null, before, 'pending'],
    ['expired', ended, before, 'active'],
    ['expired', ended, at, 'expired'],
    ['cancelled', ended, before, 'active'],
    ['cancelled', null, before, 'cancelled'],
  ] as const)('%s (ended %s) at %s → %s', (current, endedAt, instant, expected) => {
    expect(subscriptionStatusAt(current, { endedAt }, instant)).toBe(expected);
  });
  it('when the freeze covering the instant began (frozenAtAt), null when none covers it', () => {
    const first = { frozenAt: new Date('2026-05-01T00:00:00Z'), unfrozenAt: new Date('2026-05-03T00:00:00Z') };
    const second = { frozenAt: new Date('2026-05-08T00:00:00Z'), unfrozenAt: null };
    expect(frozenAtAt([first, second], at)).toEqual(second.frozenAt);
    expect(frozenAtAt([first, second], new Date('2026-05-02T00:00:00Z'))).toEqual(first.frozenAt);
    expect(frozenAtAt([first, second], first.unfrozenAt)).toBeNull();
    expect(frozenAtAt([], at)).toBeNull();
  });
  it('a freeze covering the instant makes it frozen; one not covering it, active', () => {
    const spans = [{ frozenAt: new Date('2026-05-08T00:00:00Z'), unfrozenAt: new Date('2026-05-12T00:00:00Z') }];
    expect(subscriptionStatusAt('active', { endedAt: null, freezes: spans }, at)).toBe('frozen');
    expect(subscriptionStatusAt('active', { endedAt: null, freezes: spans }, before)).toBe('active');
    expect(
      subscriptionStatusAt('frozen', { endedAt: null, freezes: [{ frozenAt: at, unfrozenAt: null }] }, before),
    ).toBe('active');
    expect(subscriptionStatusAt('frozen', { endedAt: null, freezes: [{ frozenAt: at, unfrozenAt: null }] }, at)).toBe(
      'frozen',
    );
    expect(subscriptionStatusAt('expired', { endedAt: ended, freezes: spans }, at)).toBe('expired');
    expect(subscriptionStatusAt('expired', { endedAt: ended, freezes: spans }, new Date('2026-05-03T00:00:00Z'))).toBe(
      'active',
    );
  });

  it('a lapse covering the instant makes it expired, though it is active again now (a late renewal)', () => {
    const lapsed = new Date('2026-05-08T00:00:00Z');
    const renewed = new Date('2026-05-12T00:00:00Z');
    const lapses = [{ from: lapsed, until: renewed }];
    expect(subscriptionStatusAt('active', { endedAt: null, lapses }, at)).toBe('expired');
    expect(subscriptionStatusAt('active', { endedAt: null, lapses }, new Date(lapsed.getTime() - 1))).toBe('active');
    // from the late renewal on, the status it has now
    expect(subscriptionStatusAt('active', { endedAt: null, lapses }, renewed)).toBe('active');
    // a lapse not renewed since: the subscription's own end says it (expired now, ended then)
    expect(subscriptionStatusAt('expired', { endedAt: lapsed, lapses: [{ from: lapsed, until: null }] }, at)).toBe(
      'expired',
    );
  });

  it('a suspension covering the instant makes it suspended; before it and after its resume, active', () => {
    const from = new Date('2026-05-08T00:00:00Z');
    const resumed = [{ from, until: new Date('2026-05-12T00:00:00Z') }];
    expect(subscriptionStatusAt('active', { endedAt: null, suspensions: resumed }, at)).toBe('suspended');
    expect(subscriptionStatusAt('active', { endedAt: null, suspensions: resumed }, before)).toBe('active');
    expect(
      subscriptionStatusAt('active', { endedAt: null, suspensions: resumed }, new Date('2026-05-12T00:00:00Z')),
    ).toBe('active');
    // suspended now: from the suspension's start, not before
    expect(subscriptionStatusAt('suspended', { endedAt: null, suspensions: [{ from, until: null }] }, at)).toBe(
      'suspended',
    );
    expect(subscriptionStatusAt('suspended', { endedAt: null, suspensions: [{ from, until: null }] }, before)).toBe(
      'active',
    );
    // cancelled while suspended: suspended until the cancel, cancelled from it
    expect(
      subscriptionStatusAt('cancelled', { endedAt: ended, suspensions: [{ from: before, until: null }] }, before),
    ).toBe('suspended');
    expect(
      subscriptionStatusAt('cancelled', { endedAt: ended, suspensions: [{ from: before, until: null }] }, at),
    ).toBe('cancelled');
  });

  it('pending before its activation; never activated, pending until it ended', () => {
    const activatedAt = new Date('2026-05-08T00:00:00Z');
    expect(subscriptionStatusAt('active', { activatedAt }, before)).toBe('pending');
    expect(subscriptionStatusAt('active', { activatedAt }, at)).toBe('active');
    expect(subscriptionStatusAt('pending', { activatedAt: null }, at)).toBe('pending');
    expect(subscriptionStatusAt('expired', { endedAt: ended, activatedAt: null }, before)).toBe('pending');
    expect(subscriptionStatusAt('expired', { endedAt: ended, activatedAt: null }, at)).toBe('expired');
    // activated, then cancelled: active between the two
    expect(subscriptionStatusAt('cancelled', { endedAt: at, activatedAt: before }, ended)).toBe('active');
  });

  it('no subscription stays none', () => {
    expect(subscriptionStatusAt(null, {}, at)).toBeNull();
  });
});
