import type { Db, Executor } from '../db/knex.js';
import {
  claimIdempotencyKey,
  storedResponse,
  storeIdempotentResponse,
} from '../db/repositories/idempotency-records.js';
import { type Decision, decideInTransaction } from '../db/transact.js';
import { idempotencyKeyReused } from '../domain/idempotency-key.js';
import { type Failure, fail } from '../domain/result.js';
import type { JsonReply } from './route.js';

export const IDEMPOTENCY_HEADER = 'idempotency-key';
export const REPLAYED_HEADER = 'Idempotent-Replayed';

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
  const { value: reply, committed } = await decideInTransaction(
    db,
    async (tx): Promise<Decision<JsonReply | Failure | undefined>> => {
      // not claimed: an earlier request holds the key, and its response is replayed below
      if (!(await claimIdempotencyKey(tx, call, call.requestHash, call.now)))
        return { value: undefined, commit: false };
      const reply = await run(tx);
      if ('ok' in reply || reply.status >= 400) return { value: reply, commit: false };
      await storeIdempotentResponse(tx, call, reply.status, reply.body ?? null);
      return { value: reply, commit: true };
    },
  );
  return { reply: reply ?? (await replay(db, call)), committed };
}

async function replay(db: Db, call: IdempotentCall): Promise<JsonReply | Failure> {
  const stored = await storedResponse(db, call);
  if (!stored) return fail('conflict', 'a request with this Idempotency-Key was being processed; retry it');
  if (stored.request_hash !== call.requestHash) {
    return idempotencyKeyReused();
  }
  return { status: stored.status_code, body: stored.response_body, headers: { [REPLAYED_HEADER]: 'true' } };
}
