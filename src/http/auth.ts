import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import type { Executor } from '../db/knex.js';
import { apiKeyByPrefix, insertApiKey, markApiKeyRevoked } from '../db/repositories/api-keys.js';
import { newId } from '../ids.js';

export { SCOPES, type Scope } from '../domain/scope.js';

import type { Scope } from '../domain/scope.js';

/** admin ⊇ write ⊇ read. */
const RANK: Record<Scope, number> = { read: 1, write: 2, admin: 3 };

export interface AuthContext {
  keyId: string;
  name: string;
  scopes: Scope[];
}

export const hasScope = (auth: AuthContext, needed: Scope): boolean => auth.scopes.some((s) => RANK[s] >= RANK[needed]);

const KEY_PREFIX = 'crd_';
/** `crd_` + 8 lookup characters; stored in clear to find the row, the rest only as a hash. */
const LOOKUP_LENGTH = KEY_PREFIX.length + 8;

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

export interface CreatedKey {
  id: string;
  key: string;
  scopes: Scope[];
}

/** Makes a key. The clear key is returned once and never stored (a SHA-256 of it is). */
export async function createApiKey(
  db: Executor,
  input: { name: string; scopes: Scope[]; now: Date },
): Promise<CreatedKey> {
  const key =
    `${KEY_PREFIX}${randomBytes(6).toString('base64url').slice(0, 8)}` + `${randomBytes(24).toString('base64url')}`;
  const id = newId();
  await insertApiKey(db, {
    id,
    name: input.name,
    prefix: key.slice(0, LOOKUP_LENGTH),
    hash: sha256(key),
    scopes: input.scopes,
    created_at: input.now,
  });
  return { id, key, scopes: input.scopes };
}

/** False when there is no unrevoked key with this id. Verifiers accept the key until their cache entry lapses. */
export async function revokeApiKey(db: Executor, id: string, now: Date): Promise<boolean> {
  return markApiKeyRevoked(db, id, now);
}

interface CachedKey {
  auth: AuthContext | null;
  until: number;
}

/**
 * Verifies keys against the database, remembering answers for a short while so that the hot path
 * does not read `api_keys` on every request. A revoked key stops working within `ttlMs`.
 */
export class ApiKeyVerifier {
  private readonly cache = new Map<string, CachedKey>();

  constructor(
    private readonly db: Executor,
    private readonly ttlMs = 30_000,
    private readonly maxEntries = 10_000,
  ) {}

  async verify(key: string): Promise<AuthContext | null> {
    if (!key.startsWith(KEY_PREFIX) || key.length < LOOKUP_LENGTH + 16 || key.length > 200) return null;
    const digest = sha256(key);
    const cacheKey = digest.toString('base64');
    const cached = this.cache.get(cacheKey);
    if (cached && cached.until > Date.now()) return cached.auth;

    const row = await apiKeyByPrefix(this.db, key.slice(0, LOOKUP_LENGTH));
    // Compare the full hashes in constant time, whatever the lookup found.
    const expected = row?.hash ?? Buffer.alloc(32);
    const matches = expected.length === digest.length && timingSafeEqual(expected, digest);
    const auth =
      row && matches && row.revoked_at === null ? { keyId: row.id, name: row.name, scopes: row.scopes } : null;

    if (this.cache.size >= this.maxEntries) this.cache.clear();
    this.cache.set(cacheKey, { auth, until: Date.now() + this.ttlMs });
    return auth;
  }

  forget(): void {
    this.cache.clear();
  }
}

/** `Authorization: Bearer <key>`, or HTTP Basic with the key as the password (pages, Bull Board). */
export function presentedKey(req: Request): string | undefined {
  const header = req.get('authorization');
  if (!header) return undefined;
  const [scheme, value] = header.split(/\s+/, 2);
  if (!scheme || !value) return undefined;
  if (scheme.toLowerCase() === 'bearer') return value.trim();
  if (scheme.toLowerCase() === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon >= 0 ? decoded.slice(colon + 1) : undefined;
  }
  return undefined;
}
