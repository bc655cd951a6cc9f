import type { AppContext } from '../app-context.js';
import { type BalanceNotice, lockBalancesDueNotice, markBalancesNotified } from '../db/repositories/balances.js';
import { creditTypesByIds } from '../db/repositories/credit-types.js';
import { type OutboxEventDraft, recordEvents } from '../db/repositories/outbox.js';
import { withTransaction } from '../db/transact.js';
import { toCreditTypeBrief } from '../domain/credit-type-brief.js';
import { MS_PER_DAY } from '../domain/period.js';
import { formatQuantity } from '../domain/quantity.js';
import { ok, type Result } from '../domain/result.js';
import type { NotifyResult } from '../views/maintenance.js';

const CHUNK = 500;

/**
 * The nightly events: `balance.expiring_soon` for balances with units left that expire within
 * EXPIRING_SOON_DAYS, and `balance.low` for balances at or under their threshold that were never
 * reported low (the hot path reports crossings as they happen; this catches the rest, e.g. a
 * balance granted under its threshold). Each is sent once per balance: the balance remembers it.
 */
export async function notifyBalances(app: AppContext, asOf: Date): Promise<Result<NotifyResult>> {
  const now = app.clock.now();
  const horizon = new Date(asOf.getTime() + app.config.EXPIRING_SOON_DAYS * MS_PER_DAY);
  const result: NotifyResult = { as_of: asOf.toISOString(), expiring_soon: 0, low: 0 };

  const sweep = async (kind: BalanceNotice): Promise<void> => {
    for (;;) {
      const sent = await withTransaction(app.db, async (tx) => {
        const rows = await lockBalancesDueNotice(tx, kind, { asOf, horizon, limit: CHUNK });
        if (rows.length === 0) return 0;
        const creditTypes = await creditTypesByIds(
          tx,
          rows.map((b) => b.credit_type_id),
        );
        const events: OutboxEventDraft[] = rows.map((b) => {
          const creditType = creditTypes.get(b.credit_type_id)!;
          return {
            type: kind === 'expiring_soon' ? 'balance.expiring_soon' : 'balance.low',
            clientId: b.client_id,
            subjectId: b.id,
            data: {
              balance_id: b.id,
              subscription_id: b.subscription_id,
              client_id: b.client_id,
              credit_type: toCreditTypeBrief(creditType),
              remaining: formatQuantity(b.remaining, creditType.decimals),
              granted: formatQuantity(b.granted, creditType.decimals),
              expires_at: b.expires_at.toISOString(),
            },
          };
        });
        await recordEvents(tx, events, now);
        await markBalancesNotified(
          tx,
          kind,
          rows.map((b) => b.id),
          now,
        );
        return rows.length;
      });
      if (sent === 0) return;
      if (kind === 'expiring_soon') result.expiring_soon += sent;
      else result.low += sent;
    }
  };
  await sweep('expiring_soon');
  await sweep('low');
  return ok(result);
}
