import { describe, expect, it } from 'vitest';
import { type Availability, availabilityOf } from '../../src/domain/availability.js';
import type { BalanceStatus } from '../../src/domain/balance-change.js';
import type { SubscriptionStatus } from '../../src/domain/renewal.js';

const at = new Date('2026-05-10T12:00:00Z');
const before = new Date('2026-05-01T00:00:00Z');
const after = new Date('2026-06-01T00:00:00Z');
const later = new Date('2026-07-01T00:00:00Z');

describe('DOMAIN "Usable means spendable": where a balance\'s units stand now', () => {
  it.each<[string, BalanceStatus, Date, Date, SubscriptionStatus | null, Availability]>([
    ['live, valid, active subscription', 'active', before, after, 'active', 'usable'],
    ['live, valid, no subscription (a grant)', 'active', before, after, null, 'usable'],
    ['valid from exactly now', 'active', at, after, 'active', 'usable'],
    ['suspended subscription', 'active', before, after, 'suspended', 'unavailable'],
    ['frozen subscription', 'active', before, after, 'frozen', 'unavailable'],
    ['pending subscription', 'active', before, after, 'pending', 'unavailable'],
    ['pending subscription, not valid yet either', 'active', after, later, 'pending', 'unavailable'],
    ['expired subscription, balance not swept', 'active', before, after, 'expired', 'unavailable'],
    ['not valid yet (a renewed period)', 'active', after, later, 'active', 'upcoming'],
    ['a grant from a later date', 'active', after, later, null, 'upcoming'],
    ['expires exactly now (valid_from <= at < expires_at)', 'active', before, at, 'active', 'expired'],
    ['past its expiry, not swept, even when suspended', 'active', before, at, 'suspended', 'expired'],
    // DOMAIN.md "Freeze": a frozen subscription is not expired; its expiries move later at unfreeze
    ['past its (old) expiry while frozen', 'active', before, at, 'frozen', 'unavailable'],
    ['swept', 'expired', before, after, 'active', 'expired'],
    ['voided', 'void', before, after, 'cancelled', 'void'],
  ])('%s', (_name, status, validFrom, expiresAt, subscription, expected) => {
    expect(availabilityOf({ status, validFrom, expiresAt }, subscription, at)).toBe(expected);
  });

  // the unfreeze moves only the expiries still running when the clock stopped (domain/freeze.ts movesAtUnfreeze)
  const frozenAt = new Date('2026-05-05T00:00:00Z');
  it.each<[string, Date, Availability]>([
    ['expired before the freeze (not swept yet): expired, the unfreeze will not move it', before, 'expired'],
    ['expiring exactly when the clock stopped: expired', frozenAt, 'expired'],
    ['valid when the clock stopped, past its old date now: kept by the freeze', at, 'unavailable'],
    ['valid when the clock stopped and still: kept by the freeze', after, 'unavailable'],
  ])('frozen since %s', (_name, expiresAt, expected) => {
    const balance = { status: 'active' as const, validFrom: new Date('2026-04-01T00:00:00Z'), expiresAt };
    expect(availabilityOf(balance, 'frozen', at, frozenAt)).toBe(expected);
  });
});
