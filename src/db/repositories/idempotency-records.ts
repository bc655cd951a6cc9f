import type { Executor } from '../knex.js';

/** What an Idempotency-Key is unique within: the API key, the method and the path. */
export interface IdempotencyKey {
  apiKeyId: string;
  method: string;
  path: string;
  key: string;
}

/** The response stored under a key, and the fingerprint of the request that got it. */
export interface StoredResponse {
  request_hash: string;
  status_code: number;
  response_body: unknown;
}

const whereKey = (key: IdempotencyKey) => ({
  api_key_id: key.apiKeyId,
  method: key.method,
  path: key.path,
  key: key.key,
});

/**
 * Claims the key for this transaction (or at once, outside one): its record, without a response yet, is
 * inserted unless one exists (false then). A concurrent claim of the same key waits on the record's
 * unique index until this transaction ends.
 */
export async function claimIdempotencyKey(
  tx: Executor,
  key: IdempotencyKey,
  requestHash: string,
  now: Date,
): Promise<boolean> {
  const claimed = await tx('idempotency_records')
    .insert({
      ...whereKey(key),
      request_hash: requestHash,
      status_code: 0,
      response_body: JSON.stringify(null),
      created_at: now,
    })
    .onConflict(['api_key_id', 'method', 'path', 'key'])
    .ignore()
    .returning('key');
  return claimed.length > 0;
}

/** Stores the response of a claimed key (in the transaction that claimed it). */
export async function storeIdempotentResponse(
  db: Executor,
  key: IdempotencyKey,
  statusCode: number,
  body: unknown,
): Promise<void> {
  await db('idempotency_records')
    .where(whereKey(key))
    .update({ status_code: statusCode, response_body: JSON.stringify(body) });
}

export async function storedResponse(db: Executor, key: IdempotencyKey): Promise<StoredResponse | undefined> {
  return (await db('idempotency_records').where(whereKey(key)).first('request_hash', 'status_code', 'response_body')) as
    | StoredResponse
    | undefined;
}

/** Forgets the stored responses recorded before `before`; answers how many. */
export async function deleteIdempotencyRecordsBefore(db: Executor, before: Date): Promise<number> {
  return await db('idempotency_records').where('created_at', '<', before).delete();
}

/**
 * Forgets the responses that answered with job `jobId` (a renewal's Idempotency-Key remembers the job it asked for):
 * once what that job did is undone, a repeat of the key is a new request, not a replay of an answer that no longer
 * holds.
 */
export async function forgetResponsesOfJob(db: Executor, jobId: string): Promise<number> {
  // both conditions: the partial index idempotency_records_job (migration 0023) serves a query implying its own
  return await db('idempotency_records')
    .whereRaw("response_body \\? 'job_id' AND response_body->>'job_id' = ?", [jobId])
    .delete();
}

/**
 * Remembers a key's response outside a claim unless one is remembered already, and then answers that one (the first
 * request's stands). A concurrent insert of the same key waits on the record's unique index until the first
 * transaction ends, so of two requests racing with one key only one remembers its response: a renewal remembers which
 * job its key asked for, first in the transaction that accepts it.
 */
export async function rememberResponse(
  db: Executor,
  key: IdempotencyKey,
  response: { requestHash: string; statusCode: number; body: unknown; now: Date },
): Promise<StoredResponse | undefined> {
  // twice at most: a record met by the insert may be forgotten by the nightly cleanup before it is read
  for (let attempt = 0; attempt < 2; attempt += 1) {
    const inserted = await db('idempotency_records')
      .insert({
        ...whereKey(key),
        request_hash: response.requestHash,
        status_code: response.statusCode,
        response_body: JSON.stringify(response.body),
        created_at: response.now,
      })
      .onConflict(['api_key_id', 'method', 'path', 'key'])
      .ignore()
      .returning('key');
    if (inserted.length > 0) return undefined;
    const standing = await storedResponse(db, key);
    if (standing) return standing;
  }
  throw new Error(`the record of Idempotency-Key "${key.key}" kept vanishing`);
}

/**
 * Binds a key to a request's fingerprint unless it is bound already (a route whose key names its job
 * rather than a stored response: POST /v1/consumptions/batch). Answers the fingerprint the key is bound
 * to, and whether this call bound it. A concurrent bind of the same key waits on the record's unique
 * index until the first one's statement commits, then reads what it bound.
 */
export async function bindIdempotencyKey(
  db: Executor,
  key: IdempotencyKey,
  requestHash: string,
  now: Date,
): Promise<{ requestHash: string; bound: boolean; since: Date; noted: unknown }> {
  if (await claimIdempotencyKey(db, key, requestHash, now))
    return { requestHash, bound: true, since: now, noted: null };
  const stored = (await db('idempotency_records')
    .where(whereKey(key))
    .first('request_hash', 'created_at', 'response_body')) as
    | { request_hash: string; created_at: Date; response_body: unknown }
    | undefined;
  // gone since (forgotten by the nightly cleanup between the two statements): this request's own
  return {
    requestHash: stored?.request_hash ?? requestHash,
    bound: false,
    since: stored?.created_at ?? now,
    noted: stored?.response_body ?? null,
  };
}

/**
 * Keeps beside a bound key what its request answered that a repeat of it must answer again but could not work out
 * anew (the uses a batch refused at its door): only on the binding of this request's fingerprint.
 */
export async function noteOnBinding(
  db: Executor,
  key: IdempotencyKey,
  requestHash: string,
  note: unknown,
): Promise<void> {
  await db('idempotency_records')
    .where({ ...whereKey(key), request_hash: requestHash })
    .update({ response_body: JSON.stringify(note) });
}

/** Unbinds a key this request bound, when the request was refused: its caller may retry with another body. */
export async function unbindIdempotencyKey(db: Executor, key: IdempotencyKey, requestHash: string): Promise<void> {
  await db('idempotency_records')
    .where({ ...whereKey(key), request_hash: requestHash })
    .delete();
}
