import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import type { Executor } from '../db/knex.js';
import { apiKeyByPrefix, insertApiKey, markApiKeyRevoked, touchApiKey } from '../db/repositories/api-keys.js';
import { newId } from '../ids.js';
import { KeyCheckThrottled, UnknownKeyThrottle } from './unknown-key-throttle.js';

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

const sha256 = (text: string): Buffer => hash('sha256', text, 'buffer');
/**
 * The same digest as base64 text, what the verifier's cache is keyed by: one call of node's one-shot
 * `crypto.hash` per request, where a Hash object (createHash, update, digest, then toString) cost about
 * ten times as much on this host (BENCHMARKS.md).
 */
const sha256Base64 = (text: string): string => hash('sha256', text, 'base64');

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

/**
 * False when there is no unrevoked key with this id. Another process's verifier accepts the key until
 * its cache entry lapses (API_KEY_CACHE_MS); `ApiKeyVerifier.revoke` also drops it from its own cache.
 */
export async function revokeApiKey(db: Executor, id: string, now: Date): Promise<boolean> {
  return markApiKeyRevoked(db, id, now);
}

interface CachedKey {
  auth: AuthContext | null;
  until: number;
}

export interface ApiKeyVerifierOptions {
  /** How long an answer (valid or not) is remembered; 0 reads `api_keys` on every request. */
  ttlMs: number;
  /** Milliseconds of the cache's clock (monotonic by default; tests move it). */
  now?: () => number;
  /** The wall clock a key's `last_used_at` is written with (the app's clock; tests move it). */
  wallClock?: () => Date;
  maxEntries?: number;
  /**
   * Unknown keys one caller address may have read from `api_keys` in a minute before its next read is refused
   * (AUTH_UNKNOWN_KEYS_PER_MINUTE, unknown-key-throttle.ts); 0 or absent: no limit.
   */
  unknownKeysPerMinute?: number;
}

/**
 * Verifies keys against the database, remembering answers (a valid key's identity, and "not valid")
 * for `ttlMs` so that the hot path does not read `api_keys` on every request. Entries are keyed by
 * the SHA-256 of the presented token, never the token. A key revoked through `revoke` is dropped here
 * at once; a key revoked elsewhere (another process, the CLI, a direct write) stops working here
 * within `ttlMs`. Concurrent first uses of one token share a single read.
 */
export class ApiKeyVerifier {
  private readonly cache = new Map<string, CachedKey>();
  private readonly reading = new Map<string, Promise<AuthContext | null>>();
  private readonly ttlMs: number;
  private readonly now: () => number;
  private readonly maxEntries: number;
  private readonly wallClock: () => Date;
  private readonly unknownKeys: UnknownKeyThrottle;
  /** Bumped by every revocation here: a read that began before one is not remembered. */
  private generation = 0;

  constructor(
    private readonly db: Executor,
    options: ApiKeyVerifierOptions = { ttlMs: 5_000 },
  ) {
    this.ttlMs = options.ttlMs;
    this.now = options.now ?? (() => performance.now());
    this.maxEntries = options.maxEntries ?? 10_000;
    this.wallClock = options.wallClock ?? (() => new Date());
    this.unknownKeys = new UnknownKeyThrottle(options.unknownKeysPerMinute ?? 0, this.now);
  }

  /**
   * The key's identity, or null when it is not a valid key. `from` gives the caller's address, asked only when the
   * key must be read from `api_keys` (express's `req.ip` is worked out on each call): such a check is refused
   * (rejects with KeyCheckThrottled) once that address has sent too many unknown keys this minute; a key remembered
   * here is answered as before.
   */
  verify(key: string, from?: () => string | undefined): Promise<AuthContext | null> {
    if (!key.startsWith(KEY_PREFIX) || key.length < LOOKUP_LENGTH + 16 || key.length > 200) {
      return Promise.resolve(null);
    }
    const cacheKey = this.ttlMs === 0 ? undefined : sha256Base64(key);
    if (cacheKey !== undefined) {
      const cached = this.cache.get(cacheKey);
      if (cached) {
        if (cached.until > this.now()) return Promise.resolve(cached.auth);
        this.cache.delete(cacheKey);
      }
      const pending = this.reading.get(cacheKey);
      if (pending) return pending;
    }
    // refused before a read is shared: another address asking for the same key meanwhile gets a read of its own
    const address = from?.();
    const wait = address === undefined ? undefined : this.unknownKeys.retryAfterS(address);
    if (wait !== undefined) return Promise.reject(new KeyCheckThrottled(wait));
    if (cacheKey === undefined) return this.readFrom(key, address);
    const generation = this.generation;
    // Remembered for ttlMs from when the read began, not from when it ended: the read may wait long after it found the
    // row (its write of last_used_at queued behind another transaction's lock on it), and a revocation committed by
    // another process meanwhile must still stop the key here within ttlMs of it (README API_KEY_CACHE_MS).
    const began = this.now();
    const reading = this.readFrom(key, address).then(
      (auth) => {
        if (this.reading.get(cacheKey) === reading) this.reading.delete(cacheKey);
        if (generation === this.generation) {
          if (this.cache.size >= this.maxEntries) this.cache.clear();
          this.cache.set(cacheKey, { auth, until: began + this.ttlMs });
        }
        return auth;
      },
      (error: unknown) => {
        if (this.reading.get(cacheKey) === reading) this.reading.delete(cacheKey);
        throw error;
      },
    );
    this.reading.set(cacheKey, reading);
    return reading;
  }

  /** A read of `api_keys` for a caller at `from`, counted against it when the key is unknown. */
  private async readFrom(key: string, from: string | undefined): Promise<AuthContext | null> {
    const auth = await this.read(key);
    if (!auth && from !== undefined) this.unknownKeys.unknown(from);
    return auth;
  }

  private async read(key: string): Promise<AuthContext | null> {
    const digest = sha256(key);
    const row = await apiKeyByPrefix(this.db, key.slice(0, LOOKUP_LENGTH));
    // Compare the full hashes in constant time, whatever the lookup found.
    const expected = row?.hash ?? Buffer.alloc(32);
    const matches = expected.length === digest.length && timingSafeEqual(expected, digest);
    if (!row || !matches || row.revoked_at !== null) return null;
    // read once per key per cache lifetime, so this write is too (and at most once a minute: touchApiKey)
    await touchApiKey(this.db, row.id, this.wallClock());
    return { keyId: row.id, name: row.name, scopes: row.scopes };
  }

  /** Revokes the key in the database and drops it from this process's cache at once. */
  async revoke(id: string, now: Date): Promise<boolean> {
    const revoked = await markApiKeyRevoked(this.db, id, now);
    this.drop(id);
    return revoked;
  }

  /** Forgets every cached answer naming this key id (and any read in flight). */
  drop(id: string): void {
    this.generation += 1;
    this.reading.clear();
    for (const [cacheKey, entry] of this.cache) if (entry.auth?.keyId === id) this.cache.delete(cacheKey);
  }

  forget(): void {
    this.generation += 1;
    this.reading.clear();
    this.cache.clear();
  }
}

/**
 * `Authorization: Bearer <key>`, or — where `basic` allows it (the pages, Bull Board) — HTTP Basic with the key as the
 * password.
 */
export function presentedKey(req: Request, { basic = true }: { basic?: boolean } = {}): string | undefined {
  const header = req.get('authorization');
  if (!header) return undefined;
  // exactly `<scheme> <credentials>`: anything after the credentials makes the header malformed (API.md: a bad key
  // is 401), where `split(/\s+/, 2)` dropped it and took `Bearer <key> <anything>` as the key
  const [scheme, value, extra] = header.trim().split(/\s+/, 3);
  if (!scheme || !value || extra !== undefined) return undefined;
  if (scheme.toLowerCase() === 'bearer') return value.trim();
  if (basic && scheme.toLowerCase() === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon >= 0 ? decoded.slice(colon + 1) : undefined;
  }
  return undefined;
}
