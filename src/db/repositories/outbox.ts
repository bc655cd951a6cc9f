import {
  COMMAND_TYPES as COMMAND_TYPES_LIST,
  type CommandType,
  type EventDraft,
  type EventType,
} from '../../domain/event.js';
import { newId } from '../../ids.js';
import type { Executor } from '../knex.js';

export { COMMAND_TYPES, type CommandType, EVENT_TYPES, type EventType } from '../../domain/event.js';
/** An event as the outbox takes it (the domain's draft). */
export type OutboxEventDraft = EventDraft;

export interface OutboxEventRow {
  seq: bigint;
  id: string;
  type: EventType | CommandType;
  client_id: string | null;
  subject_id: string | null;
  payload: { id: string; type: string; created_at: string; data: Record<string, unknown> };
  created_at: Date;
  dispatched_at: Date | null;
}

/** The channel a transaction that records events notifies (`OUTBOX_NOTIFY_SQL`), and the relay listens on. */
export const OUTBOX_CHANNEL = 'credits_outbox';

/**
 * One multi-row INSERT of outbox events from a JSON array; `param` is its placeholder. An event whose data names a
 * client (`client_id`) also gets the client's `client_external_ref` (the caller's own name for it, what a receiver
 * routes by) when its maker did not set it — read here, in the same statement, so that no path can forget it. The
 * lookup is a scalar subquery, not a join, so that the rows keep the array's order (their seq); no `?` operator, a
 * placeholder to knex.
 */
export const outboxInsertSql = (
  param: string,
): string => `INSERT INTO outbox_events (id, type, client_id, subject_id, payload, created_at)
     SELECT x.id, x.type, x.client_id, x.subject_id,
            CASE WHEN x.payload->'data'->'client_id' IS NOT NULL AND x.payload->'data'->'client_external_ref' IS NULL
                 THEN jsonb_set(x.payload, '{data,client_external_ref}',
                                COALESCE((SELECT to_jsonb(c.external_ref) FROM clients c
                                           WHERE c.id = (x.payload->'data'->>'client_id')::uuid), 'null'::jsonb))
                 ELSE x.payload END,
            x.created_at
       FROM json_to_recordset(${param}::json)
            AS x(id uuid, type text, client_id uuid, subject_id uuid, payload jsonb, created_at timestamptz)`;

/** Wakes the relays; takes effect when the transaction commits. */
export const OUTBOX_NOTIFY_SQL = `pg_notify('${OUTBOX_CHANNEL}', '')`;

export const outboxJson = (events: readonly OutboxEventDraft[], now: Date): string =>
  JSON.stringify(
    events.map((event) => {
      const id = newId();
      return {
        id,
        type: event.type,
        client_id: event.clientId ?? null,
        subject_id: event.subjectId ?? null,
        payload: { id, type: event.type, created_at: now.toISOString(), data: event.data },
        created_at: now,
      };
    }),
  );

/** Writes events in the caller's transaction, and wakes the relays once it commits. One round trip. */
export async function recordEvents(db: Executor, events: readonly OutboxEventDraft[], now: Date): Promise<void> {
  if (events.length === 0) return;
  await db.raw(`WITH e AS (${outboxInsertSql('?')}) SELECT ${OUTBOX_NOTIFY_SQL}`, [outboxJson(events, now)]);
}

/**
 * Deletes dispatched events created before `before` that no endpoint wanted (events with deliveries
 * stay, as their history); answers how many.
 */
export async function deleteDispatchedEventsWithoutDeliveries(db: Executor, before: Date): Promise<number> {
  const result = await db.raw<{ rowCount: number }>(
    `DELETE FROM outbox_events e
      WHERE e.dispatched_at IS NOT NULL AND e.created_at < ?
        AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id)`,
    [before],
  );
  return result.rowCount;
}

/**
 * Claims the oldest undispatched events, in the caller's transaction: SKIP LOCKED, so that several
 * relays share the work instead of waiting for each other.
 */
export async function claimUndispatched(tx: Executor, limit: number): Promise<OutboxEventRow[]> {
  return (await tx('outbox_events')
    .whereNull('dispatched_at')
    .orderBy('seq')
    .limit(limit)
    .forUpdate()
    .skipLocked()) as OutboxEventRow[];
}

export async function markDispatched(tx: Executor, seqs: readonly bigint[], at: Date): Promise<void> {
  if (seqs.length === 0) return;
  await tx('outbox_events')
    .whereIn(
      'seq',
      seqs.map((s) => s.toString()),
    )
    .update({ dispatched_at: at });
}

/**
 * The id (as a 64-bit number) of the oldest transaction of this database that is still running and
 * has written something: no outbox row of a later-committing transaction can sort before it. Read
 * from pg_stat_activity's 32-bit backend_xid, widened by its signed distance to the snapshot's xmax
 * (a transaction may take its id just after the snapshot). Only this database's sessions count —
 * pg_snapshot_xmin would let a long transaction of any other database on the server hold the list back.
 */
export const OLDEST_WRITER_HERE = `
  SELECT min(x.xmax + mod(a.backend_xid::text::numeric - mod(x.xmax, 4294967296) + 6442450944, 4294967296)
                    - 2147483648)
    FROM pg_stat_activity a,
         (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::numeric AS xmax) x
   WHERE a.datname = current_database() AND a.backend_xid IS NOT NULL`;

/**
 * Events (never the service's own commands) after the event `afterSeq`, in commit order, optionally of
 * one type: the outbox as a list a receiver reconciles with. Commit order (migration 0019): by the
 * writing transaction's id, then seq, and only rows of transactions older than every writing one still
 * running here — so a row that commits later always sorts after a cursor given out now, and no page
 * ever skips it. (A long writing transaction holds the list back until it ends.) A cursor whose event was pruned
 * falls back to seq order. Reads one more than `limit` to know whether a next page exists.
 */
export async function listEvents(
  db: Executor,
  /** `hidden`: types left out of a list of every type (a key below admin does not see them). */
  filter: { type?: EventType | undefined; afterSeq: bigint; limit: number; hidden?: readonly EventType[] },
): Promise<{ rows: OutboxEventRow[]; more: boolean }> {
  const after = filter.afterSeq.toString();
  const query = db('outbox_events')
    .whereRaw(`xid::text::numeric < coalesce((${OLDEST_WRITER_HERE}), 'infinity'::numeric)`)
    .andWhere((q) =>
      q
        .whereRaw('(xid, seq) > (SELECT c.xid, c.seq FROM outbox_events c WHERE c.seq = ?)', [after])
        .orWhere((p) =>
          p.whereRaw('NOT EXISTS (SELECT 1 FROM outbox_events c WHERE c.seq = ?)', [after]).andWhere('seq', '>', after),
        ),
    );
  if (filter.type) query.andWhere('type', filter.type);
  else query.whereNotIn('type', [...COMMAND_TYPES_LIST, ...(filter.hidden ?? [])]);
  const rows = (await query
    .orderBy([{ column: 'xid' }, { column: 'seq' }])
    .limit(filter.limit + 1)) as OutboxEventRow[];
  return { rows: rows.slice(0, filter.limit), more: rows.length > filter.limit };
}
