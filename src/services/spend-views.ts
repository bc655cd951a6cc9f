import type { AppContext } from '../app-context.js';
import type { Executor } from '../db/knex.js';
import type { ResolvedClient, ResolvedCreditType } from './ref-resolver.js';

/**
 * Rows that spend balances (consumptions, holds) as answers show them, in the order given: each with its
 * allocations (one read for all), its client and its credit type.
 */
export async function spendViews<Row extends { id: string; client_id: string; credit_type_id: string }, A, V>(
  app: AppContext,
  rows: readonly Row[],
  allocationsOf: (db: Executor, ids: readonly string[]) => Promise<Map<string, A[]>>,
  view: (row: Row, allocations: A[], client: ResolvedClient, creditType: ResolvedCreditType) => V,
): Promise<V[]> {
  const allocations = await allocationsOf(
    app.db,
    rows.map((r) => r.id),
  );
  const clients = await app.refs.clientsFor(
    app.db,
    rows.map((r) => r.client_id),
  );
  const creditTypes = await app.refs.creditTypesFor(
    app.db,
    rows.map((r) => r.credit_type_id),
  );
  return rows.map((row) =>
    view(row, allocations.get(row.id) ?? [], clients.get(row.client_id)!, creditTypes.get(row.credit_type_id)!),
  );
}
