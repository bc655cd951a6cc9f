import { describe, expect, it } from 'vitest';
import { frozenPastUntil } from '../../src/domain/freeze.js';
import { heldPastExpiry } from '../../src/domain/hold.js';

/** DOMAIN.md: a hold ends at its expires_at, a freeze at its frozen_until — what a read asks the sweep's debt by. */
const NOW = new Date('2026-06-10T12:00:00.000Z');
const before = new Date(NOW.getTime() - 1);
const after = new Date(NOW.getTime() + 1);

describe('heldPastExpiry: a hold still held at or after its expires_at', () => {
  it.each([
    ['held, expired a moment ago', 'held', before, true],
    ['held, expiring at this very instant', 'held', NOW, true],
    ['held, a moment left', 'held', after, false],
    ['already closed as expired', 'expired', before, false],
    ['captured', 'captured', before, false],
    ['released', 'released', before, false],
    ['rejected', 'rejected', before, false],
  ] as const)('%s', (_, status, expiresAt, past) => {
    expect(heldPastExpiry({ status, expiresAt }, NOW)).toBe(past);
  });
});

describe('frozenPastUntil: a subscription still frozen at or after its frozen_until', () => {
  it.each([
    ['frozen, ran out a moment ago', 'frozen', before, true],
    ['frozen, running out at this very instant', 'frozen', NOW, true],
    ['frozen, a moment left', 'frozen', after, false],
    ['frozen without a frozen_until (never stored so)', 'frozen', null, false],
    ['active again', 'active', before, false],
    ['cancelled while frozen', 'cancelled', null, false],
  ] as const)('%s', (_, status, frozenUntil, past) => {
    expect(frozenPastUntil({ status, frozenUntil }, NOW)).toBe(past);
  });
});
