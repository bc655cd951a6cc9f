import type { AppContext } from '../app-context.js';
import { isPending, pendingHolds } from '../commands/index.js';
import type { Page, PageRequest } from '../db/pagination.js';
import { allocationsOf, consumptionsByIds } from '../db/repositories/consumptions.js';
import { type HoldRow, holdAllocationsOf, holdsByIds } from '../db/repositories/holds.js';
import { toConsumptionResult } from '../views/consumption.js';
import {
  type CaptureResult,
  type HoldResult,
  type HoldView,
  type QueuedHold,
  toHoldResult,
  toQueuedHold,
} from '../views/hold.js';
import { spendViews } from './spend-views.js';

/** Holds as every answer shows them, in the order given. */
export function holdResults(app: AppContext, rows: readonly HoldRow[], replayed?: boolean): Promise<HoldResult[]> {
  return spendViews(app, rows, holdAllocationsOf, (row, allocations, client, creditType) =>
    toHoldResult(row, allocations, client, creditType, replayed),
  );
}

/** Hold requests accepted and not applied yet, oldest first; `client` (resolved) narrows them to its own. */
export async function queuedHoldViews(
  app: AppContext,
  page: PageRequest,
  client: { id: string; externalRef: string } | undefined,
): Promise<Page<QueuedHold>> {
  const waiting = await pendingHolds(app.db, page, client);
  const refsOf = (field: string) => waiting.data.map((r) => String(r.data[field]));
  const clients = await app.refs.clientsFor(app.db, refsOf('client'));
  const creditTypes = await app.refs.creditTypesFor(app.db, refsOf('credit_type'));
  return {
    data: waiting.data.map((r) =>
      toQueuedHold(r, clients.get(String(r.data.client)), creditTypes.get(String(r.data.credit_type))),
    ),
    nextCursor: waiting.nextCursor,
  };
}

/** The hold as stored, or `queued` while its accepted request waits for a worker. */
export async function holdView(app: AppContext, id: string): Promise<HoldView | undefined> {
  const row = (await holdsByIds(app.db, [id])).get(id);
  if (row) return (await holdResults(app, [row]))[0];
  return (await isPending(app.db, id)) ? { id, status: 'queued' } : undefined;
}

export async function holdRow(app: AppContext, id: string): Promise<HoldRow | undefined> {
  return (await holdsByIds(app.db, [id])).get(id);
}

/** What a capture answered, read back from the store (a capture asked again). */
export async function storedCapture(app: AppContext, row: HoldRow): Promise<CaptureResult | undefined> {
  if (!row.consumption_id) return undefined;
  const consumption = (await consumptionsByIds(app.db, [row.consumption_id])).get(row.consumption_id);
  if (!consumption) return undefined;
  const allocations = (await allocationsOf(app.db, [consumption.id])).get(consumption.id) ?? [];
  const client = await app.refs.client(app.db, row.client_id);
  const creditType = await app.refs.creditType(app.db, row.credit_type_id);
  if (!client || !creditType) return undefined;
  const [hold] = await holdResults(app, [row], true);
  return { hold: hold!, consumption: toConsumptionResult(consumption, allocations, client, creditType, true) };
}
