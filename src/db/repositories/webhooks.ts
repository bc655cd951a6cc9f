import type { EndpointWindow } from '../../domain/endpoint-window.js';
import { arrays, type Executor } from '../knex.js';
import { decodeCursor, encodeCursor, type Page, type PageRequest, readPage } from '../pagination.js';

export interface WebhookEndpointRow {
  id: string;
  url: string;
  events: string[];
  secret: string;
  description: string | null;
  created_at: Date;
  deleted_at: Date | null;
  /** Set when its deliveries kept failing (or by hand); cleared when it is enabled again. */
  disabled_at: Date | null;
  disabled_reason: string | null;
  /** The secret a rotation replaced, still signing deliveries until `previous_secret_expires_at`. */
  previous_secret: string | null;
  previous_secret_expires_at: Date | null;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

/**
 * Inserts an endpoint that starts after the outbox's newest event (migration 0027): the relay delivers it only the
 * events that occur after it is made, not those still to move when it was made.
 */
export async function insertEndpoint(db: Executor, row: WebhookEndpointRow): Promise<void> {
  await db('webhook_endpoints').insert({
    ...row,
    after_seq: db.raw('(SELECT coalesce(max(seq), 0) FROM outbox_events)'),
  });
}

/** Endpoints not deleted, by cursor. */
export async function listLiveEndpoints(db: Executor, page: PageRequest): Promise<Page<WebhookEndpointRow>> {
  return readPage<WebhookEndpointRow>(db('webhook_endpoints').whereNull('deleted_at'), page, 'webhook_endpoints');
}

/** The endpoint, deleted or not: a deleted one keeps its row and its deliveries, the history of what it was sent. */
export async function endpointById(db: Executor, id: string): Promise<WebhookEndpointRow | undefined> {
  return (await db('webhook_endpoints').where({ id }).first()) as WebhookEndpointRow | undefined;
}

export async function liveEndpointById(db: Executor, id: string): Promise<WebhookEndpointRow | undefined> {
  return (await db('webhook_endpoints').where({ id }).whereNull('deleted_at').first()) as
    | WebhookEndpointRow
    | undefined;
}

/** The outbox's highest `seq` now (0 when it is empty), as a subquery: where an endpoint's window opens or shuts. */
const newestSeq = (db: Executor) => db.raw('(SELECT coalesce(max(seq), 0) FROM outbox_events)');

/** Every endpoint not deleted (a disabled one too: see `EndpointWindow`), with the window the relay matches within. */
export async function relayEndpoints(db: Executor): Promise<EndpointWindow[]> {
  const rows = (await db('webhook_endpoints').whereNull('deleted_at').select('id', 'events', 'after_seq')) as Array<{
    id: string;
    events: string[];
    after_seq: bigint | string;
  }>;
  const pauses = (await db('webhook_endpoint_pauses as p')
    .join('webhook_endpoints as e', 'e.id', 'p.endpoint_id')
    .whereNull('e.deleted_at')
    .select('p.endpoint_id', 'p.from_seq', 'p.to_seq')) as Array<{
    endpoint_id: string;
    from_seq: bigint | string;
    to_seq: bigint | string | null;
  }>;
  return rows.map((r) => ({
    id: r.id,
    events: r.events,
    afterSeq: BigInt(r.after_seq),
    pauses: pauses
      .filter((p) => p.endpoint_id === r.id)
      .map((p) => ({ fromSeq: BigInt(p.from_seq), toSeq: p.to_seq === null ? null : BigInt(p.to_seq) })),
  }));
}

/**
 * Disables a live endpoint that is not disabled yet and answers it; undefined when it was disabled already (or is
 * deleted), so that only the first of several failing deliveries records the event. Its window shuts after the
 * outbox's newest event (migration 0029).
 */
export async function markEndpointDisabled(
  db: Executor,
  id: string,
  reason: string,
  now: Date,
): Promise<WebhookEndpointRow | undefined> {
  const [row] = (await db('webhook_endpoints')
    .where({ id })
    .whereNull('deleted_at')
    .whereNull('disabled_at')
    .update({ disabled_at: now, disabled_reason: reason })
    .returning('*')) as WebhookEndpointRow[];
  if (row) await db('webhook_endpoint_pauses').insert({ endpoint_id: id, from_seq: newestSeq(db) });
  return row;
}

/**
 * Enables a live endpoint again (a no-op on one that is not disabled); undefined when there is no live one. Its window
 * opens after the outbox's newest event.
 */
export async function markEndpointEnabled(db: Executor, id: string): Promise<WebhookEndpointRow | undefined> {
  const [row] = (await db('webhook_endpoints')
    .where({ id })
    .whereNull('deleted_at')
    .update({ disabled_at: null, disabled_reason: null })
    .returning('*')) as WebhookEndpointRow[];
  if (row) {
    await db('webhook_endpoint_pauses')
      .where({ endpoint_id: id })
      .whereNull('to_seq')
      // never below where it opened: the outbox's newest events may have been pruned meanwhile
      .update({ to_seq: db.raw('greatest(from_seq, ?)', [newestSeq(db)]) });
  }
  return row;
}

/**
 * Replaces a live endpoint's secret; the one replaced keeps signing until `previousUntil` (null: dropped at once).
 * Undefined when there is no live endpoint with this id.
 */
export async function replaceEndpointSecret(
  db: Executor,
  id: string,
  secret: string,
  previousUntil: Date | null,
): Promise<WebhookEndpointRow | undefined> {
  const [row] = (await db('webhook_endpoints')
    .where({ id })
    .whereNull('deleted_at')
    .update({
      secret,
      previous_secret: previousUntil ? db.raw('secret') : null,
      previous_secret_expires_at: previousUntil,
    })
    .returning('*')) as WebhookEndpointRow[];
  return row;
}

/** Marks the endpoint deleted (its history stays); false when there is no live one with this id. */
export async function markEndpointDeleted(db: Executor, id: string, now: Date): Promise<boolean> {
  const count = await db('webhook_endpoints').where({ id }).whereNull('deleted_at').update({ deleted_at: now });
  return count > 0;
}

/** A delivery as an endpoint's history lists it, with its event's type. */
export interface EndpointDeliveryRow {
  id: string;
  event_id: string;
  event_type: string;
  status: DeliveryStatus;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  delivered_at: Date | null;
  created_at: Date;
}

/**
 * The endpoint's deliveries, newest first, a page at a time: the keyset (created_at, id) runs downwards, so a
 * delivery made while the caller pages lands before its first page and never shifts the later ones.
 */
export async function deliveriesOfEndpoint(
  db: Executor,
  endpointId: string,
  filter: PageRequest & { status?: DeliveryStatus | undefined },
): Promise<Page<EndpointDeliveryRow>> {
  const query = db('webhook_deliveries as d')
    .join('outbox_events as e', 'e.id', 'd.event_id')
    .where('d.endpoint_id', endpointId);
  if (filter.status) query.andWhere('d.status', filter.status);
  if (filter.cursor) {
    const position = decodeCursor(filter.cursor);
    query.whereRaw('(d.created_at, d.id) < (?, ?::uuid)', [position.createdAt, position.id]);
  }
  const rows = (await query
    .orderBy([
      { column: 'd.created_at', order: 'desc' },
      { column: 'd.id', order: 'desc' },
    ])
    .limit(filter.limit + 1)
    .select('d.*', 'e.type as event_type')) as EndpointDeliveryRow[];
  const data = rows.slice(0, filter.limit);
  const last = data[data.length - 1];
  const nextCursor =
    rows.length > filter.limit && last ? encodeCursor({ createdAt: last.created_at, id: last.id }) : null;
  return { data, nextCursor };
}

/** What sending a delivery takes: its state, its endpoint and its event. */
export interface DeliveryToSend {
  id: string;
  status: DeliveryStatus;
  attempts: number;
  endpoint_id: string;
  url: string;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: Date | null;
  deleted_at: Date | null;
  disabled_at: Date | null;
  event_id: string;
  event_type: string;
  /** The event's place in the outbox: the cursor of GET /v1/events (`after`) right after it. */
  event_seq: bigint;
  payload: unknown;
}

export async function deliveryToSend(db: Executor, id: string): Promise<DeliveryToSend | undefined> {
  return (await db('webhook_deliveries as d')
    .join('webhook_endpoints as w', 'w.id', 'd.endpoint_id')
    .join('outbox_events as e', 'e.id', 'd.event_id')
    .where('d.id', id)
    .first(
      'd.id',
      'd.status',
      'd.attempts',
      'd.endpoint_id',
      'w.url',
      'w.secret',
      'w.previous_secret',
      'w.previous_secret_expires_at',
      'w.deleted_at',
      'w.disabled_at',
      'e.id as event_id',
      'e.type as event_type',
      'e.seq as event_seq',
      'e.payload',
    )) as DeliveryToSend | undefined;
}

/** Gives a delivery up without an attempt (its endpoint was deleted or disabled). */
export async function failDelivery(db: Executor, id: string, error: string): Promise<void> {
  await db('webhook_deliveries').where({ id }).update({ status: 'failed', last_error: error });
}

/** Puts a delivery back to pending, due at `nextAttemptAt`. */
export async function markDeliveryPending(db: Executor, id: string, nextAttemptAt: Date): Promise<void> {
  await db('webhook_deliveries').where({ id }).update({ status: 'pending', next_attempt_at: nextAttemptAt });
}

/** One attempt to send a delivery, as its receiver answered it. */
export interface DeliveryAttempt {
  deliveryId: string;
  attempt: number;
  startedAt: Date;
  durationMs: number;
  statusCode: number | null;
  error: string | null;
}

/** The delivery's state after an attempt. */
export interface DeliveryOutcome {
  status: DeliveryStatus;
  deliveredAt: Date | null;
  nextAttemptAt: Date | null;
}

/**
 * Records an attempt and the delivery's new state in one transaction; an attempt with this number recorded already is
 * kept as it was.
 */
export async function recordDeliveryAttempt(
  db: Executor,
  attempt: DeliveryAttempt,
  outcome: DeliveryOutcome,
): Promise<void> {
  await db.transaction(async (tx) => {
    await tx('webhook_attempts')
      .insert({
        delivery_id: attempt.deliveryId,
        attempt: attempt.attempt,
        started_at: attempt.startedAt,
        duration_ms: attempt.durationMs,
        status_code: attempt.statusCode,
        error: attempt.error,
      })
      .onConflict(['delivery_id', 'attempt'])
      .ignore();
    await tx('webhook_deliveries').where({ id: attempt.deliveryId }).update({
      attempts: attempt.attempt,
      last_status_code: attempt.statusCode,
      last_error: attempt.error,
      status: outcome.status,
      delivered_at: outcome.deliveredAt,
      next_attempt_at: outcome.nextAttemptAt,
    });
  });
}

/**
 * Creates the deliveries of events to endpoints (one per endpoint and event: a repeat is ignored)
 * and answers the ids of those created now.
 */
export async function createDeliveries(
  db: Executor,
  deliveries: ReadonlyArray<{ id: string; endpoint_id: string; event_id: string }>,
  now: Date,
): Promise<string[]> {
  if (deliveries.length === 0) return [];
  const result = await db.raw<{ rows: Array<{ id: string }> }>(
    `INSERT INTO webhook_deliveries (id, endpoint_id, event_id, status, attempts, next_attempt_at, created_at)
     SELECT d.id, d.endpoint_id, d.event_id, 'pending', 0, ?, ?
       FROM unnest(?::uuid[], ?::uuid[], ?::uuid[]) AS d(id, endpoint_id, event_id)
     ON CONFLICT (endpoint_id, event_id) DO NOTHING RETURNING id`,
    arrays([
      now,
      now,
      deliveries.map((d) => d.id),
      deliveries.map((d) => d.endpoint_id),
      deliveries.map((d) => d.event_id),
    ]),
  );
  return result.rows.map((r) => r.id);
}

/** Pending deliveries whose next attempt is older than `before`, a page at a time by id. */
export async function pendingDeliveriesDue(
  db: Executor,
  page: { before: Date; after?: string | undefined; limit: number },
): Promise<string[]> {
  const rows = (await db('webhook_deliveries')
    .where({ status: 'pending' })
    .andWhere('next_attempt_at', '<', page.before)
    .andWhere('id', '>', page.after ?? '00000000-0000-0000-0000-000000000000')
    .orderBy('id')
    .limit(page.limit)
    .select('id')) as Array<{ id: string }>;
  return rows.map((r) => r.id);
}

/** Deliveries of each endpoint by status (the pages' endpoint list). */
export async function deliveryCountsOfEndpoints(
  db: Executor,
  endpointIds: readonly string[],
): Promise<Map<string, Record<DeliveryStatus, number>>> {
  const counts = new Map<string, Record<DeliveryStatus, number>>();
  if (endpointIds.length === 0) return counts;
  const rows = (await db('webhook_deliveries')
    .whereIn('endpoint_id', [...endpointIds])
    .groupBy('endpoint_id', 'status')
    .select('endpoint_id', 'status')
    .count('* as n')) as Array<{ endpoint_id: string; status: DeliveryStatus; n: bigint | number | string }>;
  for (const row of rows) {
    const entry = counts.get(row.endpoint_id) ?? { pending: 0, delivered: 0, failed: 0 };
    entry[row.status] = Number(row.n);
    counts.set(row.endpoint_id, entry);
  }
  return counts;
}
