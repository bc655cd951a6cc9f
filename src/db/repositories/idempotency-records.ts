import type { Executor } from '../knex.js';

/** Who sent a request with an Idempotency-Key: keys are scoped per API key, method and path. */
export interface IdempotencyScope {
  apiKeyId: string;
  method: string;
  path: string;
  key: string;
}

export interface StoredResponse {
  request_hash: string;
  status_code: number;
  response_body: unknown;
}

/** The response stored for a key, if any. */
export async function storedResponse(db: Executor, scope: IdempotencyScope): Promise<StoredResponse | undefined> {
  return (await db('idempotency_records')
    .where({ api_key_id: scope.apiKeyId, method: scope.method, path: scope.path, key: scope.key })
    .first('request_hash', 'status_code', 'response_body')) as StoredResponse | undefined;
}

/** Remembers a key's response unless one is remembered already (the first request's stands). */
export async function rememberResponse(
  db: Executor,
  scope: IdempotencyScope,
  response: { requestHash: string; statusCode: number; body: unknown; now: Date },
): Promise<void> {
  await db('idempotency_records')
    .insert({
      api_key_id: scope.apiKeyId,
      method: scope.method,
      path: scope.path,
      key: scope.key,
      request_hash: response.requestHash,
      status_code: response.statusCode,
      response_body: JSON.stringify(response.body),
      created_at: response.now,
    })
    .onConflict(['api_key_id', 'method', 'path', 'key'])
    .ignore();
}
