import { isUuid } from '../../ids.js';
import type { Executor } from '../knex.js';
import { type Page, type PageRequest, readPage } from '../pagination.js';
import { whereRef } from './refs.js';

export interface ClientRow {
  id: string;
  external_ref: string;
  name: string;
  email: string | null;
  metadata: Record<string, unknown>;
  created_at: Date;
  updated_at: Date;
}

export async function findClient(db: Executor, ref: string): Promise<ClientRow | undefined> {
  return (await whereRef(db('clients').select('*'), 'clients', 'external_ref', ref).first()) as ClientRow | undefined;
}

export async function clientsByIds(db: Executor, ids: readonly string[]): Promise<Map<string, ClientRow>> {
  if (ids.length === 0) return new Map();
  const rows = (await db('clients').whereIn('id', [...new Set(ids)])) as ClientRow[];
  return new Map(rows.map((r) => [r.id, r]));
}

/** How other systems name a client: its id or its external_ref. */
export type ClientNames = Pick<ClientRow, 'id' | 'external_ref'>;

/** The clients whose external_ref, or (for a UUID-shaped reference) id, is one of `refs`. */
export async function clientsNamed(db: Executor, refs: readonly string[]): Promise<ClientNames[]> {
  const ids = refs.filter(isUuid);
  return (await db('clients')
    .select('id', 'external_ref')
    .where((q) => {
      q.whereIn('external_ref', refs);
      if (ids.length > 0) q.orWhereIn('id', ids);
    })) as ClientNames[];
}

/**
 * Inserts the client, or returns the one already holding `external_ref` (POST /v1/clients upserts).
 * `created` tells which happened.
 */
export async function insertClientIfAbsent(
  db: Executor,
  row: ClientRow,
): Promise<{ client: ClientRow; created: boolean }> {
  const inserted = (await db('clients')
    .insert({ ...row, metadata: JSON.stringify(row.metadata) })
    .onConflict('external_ref')
    .ignore()
    .returning('*')) as ClientRow[];
  if (inserted[0]) return { client: inserted[0], created: true };
  const existing = (await db('clients').where({ external_ref: row.external_ref }).first()) as ClientRow;
  return { client: existing, created: false };
}

export async function updateClient(
  db: Executor,
  id: string,
  patch: Partial<Pick<ClientRow, 'name' | 'email' | 'metadata'>> & { updated_at: Date },
): Promise<ClientRow | undefined> {
  const values: Record<string, unknown> = { ...patch };
  if (patch.metadata) values.metadata = JSON.stringify(patch.metadata);
  const [row] = (await db('clients').where({ id }).update(values).returning('*')) as ClientRow[];
  return row;
}

export async function listClients(
  db: Executor,
  page: PageRequest,
  filter: { search?: string | undefined },
): Promise<Page<ClientRow>> {
  const query = db('clients').select('*');
  if (filter.search) {
    const pattern = `%${filter.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    query.where((q) =>
      q.whereILike('name', pattern).orWhereILike('external_ref', pattern).orWhereILike('email', pattern),
    );
  }
  return readPage<ClientRow>(query, page, 'clients');
}
