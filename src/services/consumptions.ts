import type { AppContext } from '../app-context.js';
import { isPending } from '../commands/index.js';
import { consumptionFailuresByIds } from '../db/repositories/consumption-failures.js';
import { allocationsOf, type ConsumptionRow, consumptionsByIds } from '../db/repositories/consumptions.js';
import {
  type ConsumptionResult,
  type ConsumptionView,
  type FailedUse,
  toConsumptionResult,
  toConsumptionView,
} from '../views/consumption.js';
import { spendViews } from './spend-views.js';

/** The consumption as stored, or `queued` while an accepted request waits for its worker. */
export async function consumptionView(app: AppContext, id: string): Promise<ConsumptionView | undefined> {
  const rows = await consumptionsByIds(app.db, [id]);
  const row = rows.get(id);
  if (row) return (await consumptionViews(app, [row]))[0];
  return (await isPending(app.db, id)) ? { id, status: 'queued' } : undefined;
}

/**
 * A use that failed alone — refused at the door of a batch, or for good by the worker — under the id its consumption
 * would have had: read once there is no consumption of that id and no request for one waits (consumptionView
 * first): the key is left free by a failure.
 */
export async function failedUse(app: AppContext, id: string): Promise<FailedUse | undefined> {
  const row = (await consumptionFailuresByIds(app.db, [id])).get(id);
  return row
    ? { id: row.id, status: 'failed', idempotency_key: row.idempotency_key, code: row.code, detail: row.detail }
    : undefined;
}

export function consumptionViews(app: AppContext, rows: readonly ConsumptionRow[]): Promise<ConsumptionView[]> {
  return spendViews(app, rows, allocationsOf, toConsumptionView);
}

/** The first answer of a consumption applied before, as its repeat under `?wait=true` gives it. */
export async function storedConsumptionResult(app: AppContext, id: string): Promise<ConsumptionResult | undefined> {
  const row = (await consumptionsByIds(app.db, [id])).get(id);
  if (!row) return undefined;
  const allocations = (await allocationsOf(app.db, [id])).get(id) ?? [];
  const client = await app.refs.client(app.db, row.client_id);
  const creditType = await app.refs.creditType(app.db, row.credit_type_id);
  return client && creditType ? toConsumptionResult(row, allocations, client, creditType, true) : undefined;
}
