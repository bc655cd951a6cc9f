import { isUuid } from '../../ids.js';
import type { Executor } from '../knex.js';
import { type Page, type PageRequest, readPage } from '../pagination.js';
import { whereRef } from './refs.js';

export interface CreditTypeRow {
  id: string;
  code: string;
  name: string;
  unit: string;
  decimals: number;
  archived: boolean;
  /** DOMAIN.md "Dimensions": the metadata keys a consumption's values are kept for (at most 5). */
  dimensions: string[];
  created_at: Date;
  updated_at: Date;
}

/** A jsonb array goes in as JSON text: node-postgres would make a JavaScript array a Postgres array. */
const storable = <T extends Partial<CreditTypeRow>>(row: T) =>
  row.dimensions === undefined ? row : { ...row, dimensions: JSON.stringify(row.dimensions) };

export async function insertCreditType(db: Executor, row: CreditTypeRow): Promise<void> {
  await db('credit_types').insert(storable(row));
}

/** Inserts the credit type and answers it; undefined when its code is taken. */
export async function insertCreditTypeIfCodeFree(db: Executor, row: CreditTypeRow): Promise<CreditTypeRow | undefined> {
  // ON CONFLICT instead of catching the error: a failed statement would abort the caller's transaction.
  const [inserted] = (await db('credit_types')
    .insert(storable(row))
    .onConflict('code')
    .ignore()
    .returning('*')) as CreditTypeRow[];
  return inserted;
}

export async function findCreditType(db: Executor, ref: string): Promise<CreditTypeRow | undefined> {
  return (await whereRef(db('credit_types').select('*'), 'credit_types', 'code', ref).first()) as
    | CreditTypeRow
    | undefined;
}

export async function creditTypesByIds(db: Executor, ids: readonly string[]): Promise<Map<string, CreditTypeRow>> {
  if (ids.length === 0) return new Map();
  const rows = (await db('credit_types').whereIn('id', [...new Set(ids)])) as CreditTypeRow[];
  return new Map(rows.map((r) => [r.id, r]));
}

/** What resolving a credit type reference answers: its names (id, code) and how its quantities are written. */
export type CreditTypeNames = Pick<CreditTypeRow, 'id' | 'code' | 'decimals' | 'unit'>;

/** The credit types whose code, or (for a UUID-shaped reference) id, is one of `refs`. */
export async function creditTypesNamed(db: Executor, refs: readonly string[]): Promise<CreditTypeNames[]> {
  const ids = refs.filter(isUuid);
  return (await db('credit_types')
    .select('id', 'code', 'decimals', 'unit')
    .where((q) => {
      q.whereIn('code', refs);
      if (ids.length > 0) q.orWhereIn('id', ids);
    })) as CreditTypeNames[];
}

export async function listCreditTypes(
  db: Executor,
  page: PageRequest,
  filter: { archived?: boolean | undefined },
): Promise<Page<CreditTypeRow>> {
  const query = db('credit_types').select('*');
  if (filter.archived !== undefined) query.where({ archived: filter.archived });
  return readPage<CreditTypeRow>(query, page, 'credit_types');
}

export async function updateCreditType(
  db: Executor,
  id: string,
  patch: Partial<Pick<CreditTypeRow, 'name' | 'unit' | 'archived' | 'dimensions'>> & { updated_at: Date },
): Promise<CreditTypeRow | undefined> {
  const [row] = (await db('credit_types').where({ id }).update(storable(patch)).returning('*')) as CreditTypeRow[];
  return row;
}
