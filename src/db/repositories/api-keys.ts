import type { Scope } from '../../domain/scope.js';
import type { Executor, Tx } from '../knex.js';
import { type Page, type PageRequest, readPage } from '../pagination.js';

export interface ApiKeyRow {
  id: string;
  name: string;
  /** The key's first characters, to find its row; the key itself is never stored. */
  prefix: string;
  /** SHA-256 of the whole key. */
  hash: Buffer;
  scopes: Scope[];
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

export type NewApiKey = Pick<ApiKeyRow, 'id' | 'name' | 'prefix' | 'hash' | 'scopes' | 'created_at'>;

export async function insertApiKey(db: Executor, row: NewApiKey): Promise<void> {
  await db('api_keys').insert(row);
}

/** Revokes the key; false when there is no unrevoked key with this id. */
export async function markApiKeyRevoked(db: Executor, id: string, now: Date): Promise<boolean> {
  const count = await db('api_keys').where({ id }).whereNull('revoked_at').update({ revoked_at: now });
  return count > 0;
}

/** What checking a presented key needs of its row. */
export type ApiKeyCredentials = Pick<ApiKeyRow, 'id' | 'name' | 'hash' | 'scopes' | 'revoked_at'>;

export async function apiKeyByPrefix(db: Executor, prefix: string): Promise<ApiKeyCredentials | undefined> {
  return (await db('api_keys').where({ prefix }).first('id', 'name', 'hash', 'scopes', 'revoked_at')) as
    | ApiKeyCredentials
    | undefined;
}

/** Every key, oldest first, without its hash (`npm run cli -- keys list`). */
export async function listApiKeys(
  db: Executor,
): Promise<Array<Pick<ApiKeyRow, 'id' | 'name' | 'prefix' | 'scopes' | 'created_at' | 'last_used_at' | 'revoked_at'>>> {
  return (await db('api_keys')
    .select('id', 'name', 'prefix', 'scopes', 'created_at', 'last_used_at', 'revoked_at')
    .orderBy('created_at')) as Array<
    Pick<ApiKeyRow, 'id' | 'name' | 'prefix' | 'scopes' | 'created_at' | 'last_used_at' | 'revoked_at'>
  >;
}

/** What a key is shown as: never its hash. */
export type ApiKeyListed = Pick<
  ApiKeyRow,
  'id' | 'name' | 'prefix' | 'scopes' | 'created_at' | 'last_used_at' | 'revoked_at'
>;

const LISTED = ['id', 'name', 'prefix', 'scopes', 'created_at', 'last_used_at', 'revoked_at'] as const;

/** How fine `last_used_at` is: a key in use writes its row at most once in this long. */
export const LAST_USED_GRANULARITY_MS = 60_000;

/**
 * Notes that a key was used at `at`, unless its row already says so to within LAST_USED_GRANULARITY_MS: an
 * operator tells an idle key from one in use before revoking it, and a busy key costs no write per request.
 */
export async function touchApiKey(db: Executor, id: string, at: Date): Promise<void> {
  await db('api_keys')
    .where({ id })
    .where((q) =>
      q.whereNull('last_used_at').orWhere('last_used_at', '<', new Date(at.getTime() - LAST_USED_GRANULARITY_MS)),
    )
    .update({ last_used_at: at });
}

export async function apiKeyById(db: Executor, id: string): Promise<ApiKeyListed | undefined> {
  return (await db('api_keys')
    .where({ id })
    .first(...LISTED)) as ApiKeyListed | undefined;
}

/** A page of keys, oldest first (GET /v1/api-keys, the keys page). */
export async function listApiKeysPage(db: Executor, page: PageRequest): Promise<Page<ApiKeyListed>> {
  return readPage<ApiKeyListed>(db('api_keys').select(...LISTED), page, 'api_keys');
}

/**
 * Locks every unrevoked admin key and answers their ids: two revocations at once wait for each other,
 * so they cannot both see another admin key left and together revoke the last ones.
 */
export async function lockLiveAdminKeys(tx: Tx): Promise<string[]> {
  const rows = (await tx('api_keys')
    .whereNull('revoked_at')
    .whereRaw("'admin' = ANY (scopes)")
    .orderBy('id')
    .forUpdate()
    .select('id')) as Array<{ id: string }>;
  return rows.map((row) => row.id);
}
