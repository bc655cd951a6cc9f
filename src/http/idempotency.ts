import type { Knex } from 'knex';
import type { Db, Executor } from '../db/knex.js';
import { fail, type Failure } from '../domain/result.js';
import type { JsonReply } from './route.js';

export const IDEMPOTENCY_HEADER = 'idempotency-key';
export const REPLAYED_HEADER = 'Idempotent-Replayed';

interface StoredResponse {
  request_hash: string;
  status_code: number;
  response_body: unknown;
}

export interface IdempotentCall {
  apiKeyId: string;
  method: string;
  path: string;
  key: string;
  requestHash: string;
  now: Date;
}

/**
 * Runs a creating request so that its effect and its stored response commit in one transaction.
 * A concurrent request with the same key waits on the record's unique index until the first one
 * commits, then replays its response; a failed request stores nothing, so it can be retried.
 */
export async function runIdempotent(
  db: Db,
  call: IdempotentCall,
  run: (tx: Executor) => Promise<JsonReply | Failure>,
): Promise<{ reply: JsonReply | Failure; committed: boolean }> {
  const tx: Knex.Transaction = await db.transaction();
  let settled = false;
  try {
    const claimed = await tx('idempotency_records')
      .insert({
        api_key_id: call.apiKeyId,
        method: call.method,
        path: call.path,
        key: call.key,
        request_hash: call.requestHash,
        status_code: 0,
        response_body: JSON.stringify(null),
        created_at: call.now,
      })
      .onConflict(['api_key_id', 'method', 'path', 'key'])
      .ignore()
      .returning('key');
    if (claimed.length === 0) {
      await tx.rollback();
      settled = true;
      return { reply: await replay(db, call), committed: false };
    }
    const reply = await run(tx);
    if ('ok' in reply || reply.status >= 400) {
      await tx.rollback();
      settled = true;
      return { reply, committed: false };
    }
    await tx('idempotency_records')
      .where({ api_key_id: call.apiKeyId, method: call.method, path: call.path, key: call.key })
      .update({ status_code: reply.status, response_body: JSON.stringify(reply.body ?? null) });
    await tx.commit();
    settled = true;
    return { reply, committed: true };
  } finally {
    if (!settled && !tx.isCompleted()) await tx.rollback().catch(() => undefined);
  }
}

async function replay(db: Db, call: IdempotentCall): Promise<JsonReply | Failure> {
  const stored = (await db('idempotency_records')
    .where({ api_key_id: call.apiKeyId, method: call.method, path: call.path, key: call.key })
    .first('request_hash', 'status_code', 'response_body')) as StoredResponse | undefined;
  if (!stored) return fail('conflict', 'a request with this Idempotency-Key was being processed; retry it');
  if (stored.request_hash !== call.requestHash) {
    return fail('idempotency_conflict', 'this Idempotency-Key was used with another request body');
  }
  return { status: stored.status_code, body: stored.response_body, headers: { [REPLAYED_HEADER]: 'true' } };
}
