import { describe, expect, it } from 'vitest';
import { balanceAt, type LedgerUpTo } from '../../src/domain/balance-as-of.js';

const ledger = (first: bigint, later: Record<string, [bigint, number]>): LedgerUpTo => ({
  first,
  later: new Map(Object.entries(later).map(([kind, [amount, count]]) => [kind, { amount, count }])),
});

/**
 * A hold that closes after its balance expired lets the held units lapse with an `expire` entry of their own
 * (DOMAIN.md "Holds": "not revived on release (they expire)") — before the sweep has expired the balance's free
 * units. That entry is not the sweep's: as of then the balance was still active, its free units left on it and
 * counted as expired by their validity, as the live answer counted them (test/e2e/acceptance-walk.test.ts).
 */
describe('DOMAIN.md "As of": an expire entry of a hold\'s lapse is not the sweep', () => {
  // 10 granted; two holds of 4; one captured (release 4, consume 4), one released after the expiry (release 4,
  // expire 4): 2 free units left, the sweep comes later
  const lapsed = ledger(10n, { hold: [-8n, 2], release: [8n, 2], consume: [-4n, 1], expire: [-4n, 1] });
  const sweptLater = { status: 'expired' as const, expiresAt: new Date('2026-03-13T00:00:00Z') };
  const at = new Date('2026-03-13T00:05:00Z');

  it('keeps the balance active with its 2 free units, 4 expired', () => {
    expect(balanceAt(lapsed, sweptLater, at)).toMatchObject({ remaining: 2n, expired: 4n, held: 0n, status: 'active' });
  });

  it('once the sweep expired the 2 (an entry that leaves nothing), it is expired', () => {
    const swept = ledger(10n, { hold: [-8n, 2], release: [8n, 2], consume: [-4n, 1], expire: [-6n, 2] });
    expect(balanceAt(swept, sweptLater, new Date('2026-03-15T00:00:00Z'))).toMatchObject({
      remaining: 0n,
      expired: 6n,
      status: 'expired',
    });
  });
});
