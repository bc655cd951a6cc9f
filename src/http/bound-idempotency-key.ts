import { fingerprint } from '../canonical-json.js';
import type { Db } from '../db/knex.js';
import { bindIdempotencyKey, noteOnBinding, unbindIdempotencyKey } from '../db/repositories/idempotency-records.js';
import { type ErrorCode, type Failure, fail } from '../domain/result.js';
import type { AuthContext } from './auth.js';

/** A request's Idempotency-Key as its route sees it once bound to the request's body. */
export interface KeyBinding {
  /** When the key was bound — a key forgotten by the cleanup and sent again is bound anew. */
  since: Date;
  /** The key was bound before, by a request of this body: this one is a repeat of it. */
  repeat: boolean;
  /** What the request that bound the key noted beside it (`note`), null when nothing (yet). */
  noted: unknown;
  /** Keeps a value beside the key for its repeats (`noted`); does nothing in a repeat (the first note stands). */
  note(value: unknown): Promise<void>;
}

/**
 * API.md "A `POST` that creates something honours `Idempotency-Key`" for a route whose key names its job rather
 * than a stored response (`idempotency: 'job'`): the key is bound to this body before anything is recorded, so the
 * same key with another body is 409 `idempotency_conflict` (never a second use accepted under it); the same body
 * runs again and its route answers the first result, replayed. A refused request (a failure) unbinds the key, so
 * that its caller may correct the body and retry with it — except a failure in `recorded`, an outcome the request
 * was answered with after it was recorded (a use rejected for `insufficient_balance`). Without a key (or a
 * caller), `run` alone.
 */
export async function withBoundKey<T extends object>(
  call: {
    app: { db: Db; clock: { now(): Date } };
    auth: AuthContext | null;
    key: string | undefined;
    /** The creating POST's path: a key is bound per API key, method and path. */
    path: string;
    body: unknown;
    /** The longest key taken (255 by default). */
    maxLength?: number;
    recorded?: readonly ErrorCode[];
  },
  run: (binding?: KeyBinding) => Promise<T | Failure>,
): Promise<T | Failure> {
  const { key, auth } = call;
  const maxLength = call.maxLength ?? 255;
  if (key === undefined || !auth) return run();
  if (key.length === 0 || key.length > maxLength) {
    const message = `must be 1–${maxLength} characters`;
    return fail('validation_failed', `Idempotency-Key ${message}`, {
      errors: [{ field: 'Idempotency-Key', message }],
    });
  }
  const binding = { apiKeyId: auth.keyId, method: 'POST', path: call.path, key };
  const requestHash = fingerprint(call.body);
  const bound = await bindIdempotencyKey(call.app.db, binding, requestHash, call.app.clock.now());
  if (bound.requestHash !== requestHash) {
    return fail('idempotency_conflict', `Idempotency-Key "${key}" was used with another request body`);
  }
  const unbind = async () => {
    if (bound.bound) await unbindIdempotencyKey(call.app.db, binding, requestHash);
  };
  let reply: T | Failure;
  try {
    reply = await run({
      since: bound.since,
      repeat: !bound.bound,
      noted: bound.bound ? null : bound.noted,
      note: async (value) => {
        if (bound.bound) await noteOnBinding(call.app.db, binding, requestHash, value);
      },
    });
  } catch (error) {
    await unbind().catch(() => undefined);
    throw error;
  }
  if ('ok' in reply && reply.ok === false && !call.recorded?.includes(reply.code)) await unbind();
  return reply;
}
