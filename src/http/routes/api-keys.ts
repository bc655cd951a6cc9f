import { z } from 'zod';
import { fingerprint } from '../../canonical-json.js';
import type { Executor } from '../../db/knex.js';
import { type ApiKeyListed, apiKeyById, listApiKeysPage, lockLiveAdminKeys } from '../../db/repositories/api-keys.js';
import {
  claimIdempotencyKey,
  storedResponse,
  storeIdempotentResponse,
} from '../../db/repositories/idempotency-records.js';
import { transact } from '../../db/transact.js';
import { idempotencyKeyReused } from '../../domain/idempotency-key.js';
import { fail, ok, type Result } from '../../domain/result.js';
import { isUuid } from '../../ids.js';
import { idParams, listOf, nameSchema, pageQuery } from '../../schemas/common.js';
import { createApiKey, revokeApiKey, SCOPES, type Scope } from '../auth.js';
import { problemOf } from '../problem-schemas.js';
import { page, replyWith } from '../reply.js';
import { type AnyRoute, defineRoute } from '../route.js';

export const apiKeyView = z
  .object({
    id: z.uuid(),
    name: z.string(),
    prefix: z.string().meta({ description: 'The first characters of the key, to tell keys apart; never the key.' }),
    scopes: z.array(z.enum(SCOPES)),
    created_at: z.string(),
    last_used_at: z
      .string()
      .nullable()
      .meta({
        description:
          'When a request last presented the key, to the minute (and within API_KEY_CACHE_MS of each process); ' +
          'null when never. Tells an idle key from one in use before it is revoked.',
      }),
    revoked_at: z.string().nullable(),
  })
  .meta({ id: 'ApiKey' });

const createdKeyView = apiKeyView
  .extend({ key: z.string().meta({ description: 'The key itself: shown here once, stored only as a hash.' }) })
  .meta({ id: 'CreatedApiKey' });

/** A key as the API shows it: its prefix, never its hash. */
export const toApiKeyView = (row: ApiKeyListed): z.output<typeof apiKeyView> => ({
  id: row.id,
  name: row.name,
  prefix: row.prefix,
  scopes: row.scopes,
  created_at: row.created_at.toISOString(),
  last_used_at: row.last_used_at?.toISOString() ?? null,
  revoked_at: row.revoked_at?.toISOString() ?? null,
});

/** The Idempotency-Key of a creation: unique within the calling key, the method and the path. */
interface CreationKey {
  apiKeyId: string;
  method: string;
  path: string;
  key: string;
  requestHash: string;
}

/**
 * Makes a key. The clear key is answered here and nowhere else: it is never stored, not even as the
 * replayable answer of an Idempotency-Key. A second request with the same Idempotency-Key (a form sent
 * twice, a reload of the answer page) makes no second key: 409 `conflict` naming the key the first one
 * made (`api_key`, without the secret); with another body, 409 `idempotency_conflict`.
 */
async function makeKey(
  db: Executor,
  input: { name: string; scopes: Scope[] },
  context: { now: Date; idempotency: CreationKey | undefined },
): Promise<Result<{ row: ApiKeyListed; key: string }>> {
  return transact(db, async (tx) => {
    const idem = context.idempotency;
    if (idem && !(await claimIdempotencyKey(tx, idem, idem.requestHash, context.now))) {
      const stored = await storedResponse(tx, idem);
      if (stored && stored.request_hash !== idem.requestHash) return idempotencyKeyReused();
      return fail(
        'conflict',
        'a key was made already for this Idempotency-Key; a key is shown only once: revoke it and make another ' +
          'if it was not kept',
        stored?.status_code === 201 ? { extra: { api_key: stored.response_body } } : {},
      );
    }
    const created = await createApiKey(tx, { name: input.name, scopes: input.scopes, now: context.now });
    const row = await apiKeyById(tx, created.id);
    if (!row) throw new Error(`the key ${created.id} just made is not there`);
    if (idem) await storeIdempotentResponse(tx, idem, 201, toApiKeyView(row));
    return ok({ row, key: created.key });
  });
}

/**
 * Revokes a key. Revoking a revoked key answers it as it is. The last unrevoked admin key is not
 * revoked (409): nobody could then make keys, sign in to the pages or revoke a leaked key — make
 * another admin key first. (The CLI, with the database's credentials, may still revoke any key.)
 */
async function revokeKey(db: Executor, id: string, now: Date): Promise<Result<ApiKeyListed>> {
  if (!isUuid(id)) return fail('not_found', `no API key "${id}"`);
  return transact(db, async (tx) => {
    const row = await apiKeyById(tx, id);
    if (!row) return fail('not_found', `no API key "${id}"`);
    if (row.revoked_at) return ok(row);
    if (row.scopes.includes('admin')) {
      const liveAdmins = await lockLiveAdminKeys(tx);
      if (liveAdmins.length <= 1 && liveAdmins.includes(id))
        return fail('conflict', 'this is the last admin key: make another admin key before revoking it');
    }
    await revokeApiKey(tx, id, now);
    return ok((await apiKeyById(tx, id)) ?? row);
  });
}

export const apiKeyRoutes: AnyRoute[] = [
  defineRoute({
    method: 'post',
    path: '/v1/api-keys',
    access: 'admin',
    tag: 'access',
    summary: 'Make an API key (the key is shown once)',
    description:
      'Answers the key itself in `key`, only here: it is stored as a SHA-256 hash, and lists show its `prefix`. ' +
      'Honours Idempotency-Key without storing the key: the same key again makes no second key and is answered ' +
      '409 `conflict` with the first one in `api_key` (no secret); with another body 409 `idempotency_conflict`.',
    body: z.strictObject({
      name: nameSchema,
      scopes: z
        .array(z.enum(SCOPES))
        .min(1, 'give at least one scope')
        .max(SCOPES.length)
        .refine((s) => new Set(s).size === s.length, 'each scope once')
        .meta({ description: '`admin` ⊇ `write` ⊇ `read`.' }),
    }),
    responses: {
      201: { description: 'Made: the key is in `key`, shown this once', schema: createdKeyView },
      409: {
        description:
          'The Idempotency-Key made a key already (`conflict`, that key in `api_key`), or was used with another body',
        schema: problemOf(['conflict', 'idempotency_conflict'], {
          api_key: apiKeyView
            .optional()
            .meta({ description: 'The key the first request made (never the key itself).' }),
        }),
      },
    },
    handler: async ({ body, db, app, auth, idempotencyKey, path }) => {
      if (idempotencyKey !== undefined && (idempotencyKey.length === 0 || idempotencyKey.length > 255))
        return fail('validation_failed', 'Idempotency-Key must be 1–255 characters', {
          errors: [{ field: 'Idempotency-Key', message: 'must be 1–255 characters' }],
        });
      const idempotency =
        idempotencyKey !== undefined && auth
          ? {
              apiKeyId: auth.keyId,
              method: 'POST',
              path,
              key: idempotencyKey,
              requestHash: fingerprint({ body, query: {} }),
            }
          : undefined;
      const reply = await replyWith(await makeKey(db, body, { now: app.clock.now(), idempotency }), 201, (made) => ({
        ...toApiKeyView(made.row),
        key: made.key,
      }));
      // the clear key, this once: no cache on the way keeps a copy of it
      return 'status' in reply ? { ...reply, headers: { 'cache-control': 'no-store' } } : reply;
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/api-keys',
    access: 'admin',
    tag: 'access',
    summary: 'List API keys, oldest first (their prefix, never the key)',
    query: pageQuery,
    responses: { 200: { description: 'A page of keys', schema: listOf(apiKeyView) } },
    handler: async ({ query, db }) => {
      const result = await listApiKeysPage(db, query);
      return { status: 200, body: page(result.data.map(toApiKeyView), result.nextCursor) };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/v1/api-keys/{id}/revoke',
    access: 'admin',
    tag: 'access',
    summary: 'Revoke an API key',
    description:
      'The key is refused (401) at once by this process and within API_KEY_CACHE_MS by the others; sessions of ' +
      'the pages opened with it end. Revoking a revoked key answers it as it is. The last unrevoked admin key ' +
      'cannot be revoked (409): make another admin key first.',
    params: idParams,
    responses: {
      200: { description: 'Revoked', schema: apiKeyView },
      404: { description: 'No such key' },
      409: { description: 'The last admin key' },
    },
    handler: async ({ params, db, app, afterCommit }) => {
      const result = await revokeKey(db, params.id, app.clock.now());
      // dropped from this process's cache once the revocation is committed: a read before the commit
      // would find the key still valid and remember it
      if (result.ok) afterCommit(async () => app.keys.drop(result.value.id));
      return replyWith(result, 200, toApiKeyView);
    },
  }),
];
