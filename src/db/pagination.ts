import type { Knex } from 'knex';
import { DomainError, fail } from '../domain/result.js';
import { isUuid } from '../ids.js';

/** Keyset pagination on (created_at, id): stable while rows are added, no OFFSET scans. */
export interface PageRequest {
  limit: number;
  cursor?: string | undefined;
}

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

interface CursorPosition {
  createdAt: Date;
  id: string;
}

export function encodeCursor(position: CursorPosition): string {
  return Buffer.from(JSON.stringify([position.createdAt.toISOString(), position.id]), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): CursorPosition {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(parsed) &&
      parsed.length === 2 &&
      typeof parsed[0] === 'string' &&
      typeof parsed[1] === 'string'
    ) {
      const createdAt = new Date(parsed[0]);
      if (!Number.isNaN(createdAt.getTime()) && isUuid(parsed[1])) return { createdAt, id: parsed[1] };
    }
  } catch {
    // fall through to the validation failure
  }
  throw new DomainError(
    fail('validation_failed', 'cursor is not one this API gave out', {
      errors: [{ field: 'cursor', message: 'is invalid' }],
    }),
  );
}

/** Applies the keyset to `query` (rows of `table` carrying created_at and id) and reads one page. */
export async function readPage<T extends { created_at: Date; id: string }>(
  query: Knex.QueryBuilder,
  page: PageRequest,
  table: string,
): Promise<Page<T>> {
  if (page.cursor) {
    const position = decodeCursor(page.cursor);
    query.whereRaw(`(??, ??) > (?, ?::uuid)`, [`${table}.created_at`, `${table}.id`, position.createdAt, position.id]);
  }
  const rows = (await query.orderBy([`${table}.created_at`, `${table}.id`]).limit(page.limit + 1)) as T[];
  const hasMore = rows.length > page.limit;
  const data = hasMore ? rows.slice(0, page.limit) : rows;
  const last = data[data.length - 1];
  return { data, nextCursor: hasMore && last ? encodeCursor({ createdAt: last.created_at, id: last.id }) : null };
}
