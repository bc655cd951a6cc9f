import { z } from 'zod';
import type { AppContext } from '../app-context.js';
import { balanceExpiries } from '../db/repositories/balances.js';
import {
  allocationsOf,
  type ConsumptionRow,
  consumptionsByIds,
  readSpendable,
  readSpendableAsSwept,
} from '../db/repositories/consumptions.js';
import { clientsOwedBySweep } from '../db/repositories/holds.js';
import { burnDown, type Lot } from '../domain/allocate.js';
import { isRefused, prepareUse, type UseReport } from '../domain/consumption-request.js';
import { toCreditTypeBrief } from '../domain/credit-type-brief.js';
import { formatQuantity } from '../domain/quantity.js';
import { fail, ok, type Result } from '../domain/result.js';
import { creditTypeBrief } from '../views/credit-type.js';

export const quoteView = z
  .object({
    would: z.enum(['apply', 'partial', 'reject']).meta({
      description:
        'What the consume job would answer now: `apply` (status applied), `partial` (mode=partial, short), ' +
        '`reject` (insufficient_balance).',
    }),
    client: z.object({ id: z.uuid(), external_ref: z.string() }),
    credit_type: creditTypeBrief,
    quantity: z.string(),
    applied: z.string(),
    shortfall: z.string(),
    allocations: z.array(z.object({ balance_id: z.uuid(), amount: z.string(), expires_at: z.string() })),
    remaining: z.string().meta({ description: "The client's usable total of the credit type after the use." }),
    occurred_at: z.string(),
    replayed: z
      .boolean()
      .optional()
      .meta({
        description:
          'True when `idempotency_key` names a consumption already applied with this same payload: the use would ' +
          'take nothing more, and the quote answers what it took then (its `consumption_id`).',
      }),
    consumption_id: z.uuid().optional(),
  })
  .meta({ id: 'ConsumptionQuote' });
export type QuoteView = z.infer<typeof quoteView>;

/** A consumption body whose idempotency_key may be left out: a quote is never recorded. */
export type QuoteRequest = Omit<UseReport, 'accepted_at' | 'idempotency_key'> & {
  idempotency_key?: string | undefined;
};

const WOULD = { applied: 'apply', partial: 'partial', rejected: 'reject' } as const;

/**
 * DOMAIN.md "Quote": what a consumption would take now, from the SAME burn-down the consume job runs
 * (`burnDown`, src/domain/allocate.ts) over the same balances (`readSpendable`: the consumption lock's
 * statement without FOR UPDATE). Nothing is written and no lock is taken, so a use applied a moment
 * later may find less; the quote is what a consumption alone would find at this instant.
 */
export async function quoteConsumption(app: AppContext, body: QuoteRequest): Promise<Result<QuoteView>> {
  const now = app.clock.now();
  const clients = await app.refs.clientsFor(app.db, [body.client]);
  const creditTypes = await app.refs.creditTypesFor(app.db, [body.credit_type]);
  const prepared = prepareUse(
    { ...body, idempotency_key: body.idempotency_key ?? 'quote' },
    { index: 0, jobId: '', enqueuedAt: now, now, clients, creditTypes },
  );
  if (isRefused(prepared)) return prepared;
  if (body.idempotency_key !== undefined) {
    // the key names a use applied before: sending it would replay that answer (or be refused), take nothing more
    const before = (await consumptionsByIds(app.db, [prepared.id])).get(prepared.id);
    if (before) {
      if (before.request_hash !== prepared.hash)
        return fail(
          'idempotency_conflict',
          `idempotency_key ${body.idempotency_key} was used with another payload (consumption ${before.id})`,
        );
      return ok(await replayedQuote(app, prepared, before));
    }
  }
  const scope = {
    clientId: prepared.client.id,
    creditTypeId: prepared.creditType.id,
    from: prepared.occurredAt,
    to: prepared.occurredAt,
  };
  const burn = (from: readonly Lot[]) => {
    const [outcome] = burnDown(from, [
      { ...scope, quantity: prepared.quantity, mode: prepared.mode, occurredAt: scope.from },
    ]).outcomes;
    if (!outcome) throw new Error('the burn-down answered no outcome');
    return outcome;
  };
  let lots = await readSpendable(app.sql, {
    clientIds: [scope.clientId],
    creditTypeIds: [scope.creditTypeId],
    from: scope.from,
    to: scope.to,
  });
  let outcome = burn(lots);
  // short while the sweep owes the client a closing (a hold past expires_at, a freeze past frozen_until): the use would
  // do that first and run again (jobs/sweep-owed.ts settlingOwed), so the quote reads the balances as it leaves them
  if (outcome.status !== 'applied' && (await clientsOwedBySweep(app.sql, [scope.clientId], now)).length > 0) {
    lots = await readSpendableAsSwept(app.sql, { ...scope, now });
    outcome = burn(lots);
  }
  const expiry = new Map(lots.map((l) => [l.id, l.expiresAt]));
  const q = (v: bigint) => formatQuantity(v, prepared.creditType.decimals);
  return ok({
    would: WOULD[outcome.status],
    client: { id: prepared.client.id, external_ref: prepared.client.externalRef },
    credit_type: toCreditTypeBrief(prepared.creditType),
    quantity: q(outcome.quantity),
    applied: q(outcome.applied),
    shortfall: q(outcome.shortfall),
    allocations: outcome.allocations.map((a) => ({
      balance_id: a.balanceId,
      amount: q(a.amount),
      expires_at: expiry.get(a.balanceId)!.toISOString(),
    })),
    remaining: q(outcome.remaining),
    occurred_at: prepared.occurredAt.toISOString(),
  });
}

/**
 * The quote of a use whose key was applied before with the same payload: what that consumption took (its
 * allocations, its remaining right after), as its replay would answer. `would` reads its first outcome: a
 * reversal since does not change what it was.
 */
async function replayedQuote(
  app: AppContext,
  prepared: { client: { id: string; externalRef: string }; creditType: QuotedCreditType },
  before: ConsumptionRow,
): Promise<QuoteView> {
  const allocations = (await allocationsOf(app.db, [before.id])).get(before.id) ?? [];
  const expiries = await balanceExpiries(
    app.db,
    allocations.map((a) => a.balance_id),
  );
  const q = (v: bigint) => formatQuantity(v, prepared.creditType.decimals);
  return {
    would: before.status === 'rejected' ? 'reject' : before.shortfall === 0n ? 'apply' : 'partial',
    client: { id: prepared.client.id, external_ref: prepared.client.externalRef },
    credit_type: toCreditTypeBrief(prepared.creditType),
    quantity: q(before.quantity),
    applied: q(before.applied),
    shortfall: q(before.shortfall),
    allocations: allocations.map((a) => ({
      balance_id: a.balance_id,
      amount: q(a.amount),
      expires_at: expiryOf(expiries, a.balance_id).toISOString(),
    })),
    remaining: q(before.remaining_after),
    occurred_at: before.occurred_at.toISOString(),
    replayed: true,
    consumption_id: before.id,
  };
}

interface QuotedCreditType {
  id: string;
  code: string;
  unit: string;
  decimals: number;
}

function expiryOf(expiries: ReadonlyMap<string, Date>, balanceId: string): Date {
  const at = expiries.get(balanceId);
  if (!at) throw new Error(`balance ${balanceId} of a recorded allocation is missing`);
  return at;
}
