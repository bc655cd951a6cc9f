import { isUuid, newId } from '../../ids.js';
import type { Executor } from '../knex.js';
import { decodeCursor, encodeCursor, type Page, type PageRequest } from '../pagination.js';

export const AUDIT_ORIGINS = ['api', 'ui', 'cli'] as const;
export type AuditOrigin = (typeof AUDIT_ORIGINS)[number];

/** One row of the trail (append-only: the database refuses UPDATE, DELETE and TRUNCATE). */
export interface AuditEventRow {
  id: string;
  at: Date;
  /** The key that acted; null for the CLI, which acts with the database's credentials. */
  actor_key_id: string | null;
  actor_name: string;
  origin: AuditOrigin;
  /** `PATCH /v1/packages/{id}` (the route's method and template), or the CLI's command (`keys create`). */
  action: string;
  target_id: string | null;
  /** The request body, secrets redacted (domain/audit-request.ts). */
  request: unknown;
  status: number;
  request_id: string | null;
}

export type NewAuditEvent = Omit<AuditEventRow, 'id'>;

/** Appends one event (in the caller's transaction when it is given one); answers its id. */
export async function insertAuditEvent(db: Executor, event: NewAuditEvent): Promise<string> {
  const id = newId();
  await db('audit_events').insert({ ...event, id, request: JSON.stringify(event.request ?? null) });
  return id;
}

export interface AuditFilter {
  /** A key id, or a part of the actor's name (any case). */
  actor?: string | undefined;
  /** A part of the action (any case): `packages`, `PATCH /v1/packages/{id}`. */
  action?: string | undefined;
  origin?: AuditOrigin | undefined;
  /** At or after. */
  from?: Date | undefined;
  /** Before. */
  to?: Date | undefined;
}

const contains = (text: string): string => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** The trail, newest first, a page at a time (keyset on (at, id), descending). */
export async function listAuditEvents(
  db: Executor,
  page: PageRequest,
  filter: AuditFilter = {},
): Promise<Page<AuditEventRow>> {
  const query = db('audit_events').select('*');
  if (filter.actor !== undefined) {
    const actor = filter.actor;
    if (isUuid(actor)) query.where('actor_key_id', actor);
    else query.whereILike('actor_name', contains(actor));
  }
  if (filter.action !== undefined) query.whereILike('action', contains(filter.action));
  if (filter.origin !== undefined) query.where('origin', filter.origin);
  if (filter.from !== undefined) query.where('at', '>=', filter.from);
  if (filter.to !== undefined) query.where('at', '<', filter.to);
  if (page.cursor) {
    const position = decodeCursor(page.cursor);
    query.whereRaw('(at, id) < (?, ?::uuid)', [position.createdAt, position.id]);
  }
  const rows = (await query
    .orderBy([
      { column: 'at', order: 'desc' },
      { column: 'id', order: 'desc' },
    ])
    .limit(page.limit + 1)) as AuditEventRow[];
  const hasMore = rows.length > page.limit;
  const data = hasMore ? rows.slice(0, page.limit) : rows;
  const last = data[data.length - 1];
  return { data, nextCursor: hasMore && last ? encodeCursor({ createdAt: last.at, id: last.id }) : null };
}
