import type { AppContext } from '../app-context.js';
import { applyBalanceChanges, lockExpiringGrants } from '../db/repositories/balances.js';
import { creditTypesByIds } from '../db/repositories/credit-types.js';
import { appendLedgerEntries } from '../db/repositories/ledger.js';
import { recordEvents } from '../db/repositories/outbox.js';
import { withTransaction } from '../db/transact.js';
import { planGrantExpiry } from '../domain/grant-expiry.js';

const CHUNK = 500;

/**
 * The part of the `expire` job that no subscription drives: operators' grants (balances of no
 * subscription) past their expiry at `asOf` expire like any other balance. A chunk at a time, each
 * one transaction that locks its balances in the one lock order; safe to run any number of times
 * (an expired balance is no longer due). Answers how many balances it expired.
 */
export async function expireGrants(app: AppContext, asOf: Date): Promise<number> {
  let expired = 0;
  for (;;) {
    const done = await withTransaction(app.db, async (tx) => {
      const due = await lockExpiringGrants(tx, asOf, CHUNK);
      if (due.length === 0) return 0;
      const creditTypes = await creditTypesByIds(
        tx,
        due.map((b) => b.credit_type_id),
      );
      const now = app.clock.now();
      const plan = planGrantExpiry(
        due.map((b) => {
          const creditType = creditTypes.get(b.credit_type_id)!;
          return {
            id: b.id,
            clientId: b.client_id,
            creditType,
            decimals: creditType.decimals,
            remaining: b.remaining,
            expiresAt: b.expires_at,
          };
        }),
        now,
      );
      await appendLedgerEntries(tx, plan.entries);
      await applyBalanceChanges(tx, plan.changes, now);
      await recordEvents(tx, plan.events, now);
      return due.length;
    });
    if (done === 0) return expired;
    expired += done;
  }
}
