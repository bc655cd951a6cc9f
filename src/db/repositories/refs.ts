import type { Knex } from 'knex';
import { isUuid } from '../../ids.js';

/**
 * API.md: a reference accepts an id or a natural key (code, external_ref). A natural key may itself
 * look like a UUID, so a UUID-shaped reference matches either; when it matches two rows (one's id,
 * another's code), the one whose id it is comes first, as in the ref resolver.
 */
export function whereRef(query: Knex.QueryBuilder, table: string, naturalKey: string, ref: string): Knex.QueryBuilder {
  if (isUuid(ref)) {
    return query
      .where((q) => q.where(`${table}.id`, ref).orWhere(`${table}.${naturalKey}`, ref))
      .orderByRaw('(?? = ?::uuid) DESC', [`${table}.id`, ref]);
  }
  return query.where(`${table}.${naturalKey}`, ref);
}
