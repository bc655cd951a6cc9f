import type { Executor } from '../knex.js';
import type { ApiKeyRow } from './api-keys.js';

export interface UiSessionRow {
  /** SHA-256 of the token in the browser's cookie; the token itself is never stored. */
  token_hash: Buffer;
  api_key_id: string;
  created_at: Date;
  expires_at: Date;
}

export async function insertSession(db: Executor, row: UiSessionRow): Promise<void> {
  await db('ui_sessions').insert(row);
}

/** Deletes the sessions that have expired at `now`. */
export async function deleteExpiredSessions(db: Executor, now: Date): Promise<void> {
  await db('ui_sessions').where('expires_at', '<=', now).delete();
}

export async function deleteSession(db: Executor, tokenHash: Buffer): Promise<void> {
  await db('ui_sessions').where({ token_hash: tokenHash }).delete();
}

/** The key a session was opened with, while the session has not expired at `now` and the key is not revoked. */
export async function liveSessionKey(
  db: Executor,
  tokenHash: Buffer,
  now: Date,
): Promise<Pick<ApiKeyRow, 'id' | 'name' | 'scopes'> | undefined> {
  return (await db('ui_sessions as s')
    .join('api_keys as k', 'k.id', 's.api_key_id')
    .where('s.token_hash', tokenHash)
    .andWhere('s.expires_at', '>', now)
    .whereNull('k.revoked_at')
    .first('k.id', 'k.name', 'k.scopes')) as Pick<ApiKeyRow, 'id' | 'name' | 'scopes'> | undefined;
}
