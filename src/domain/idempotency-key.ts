import { type Failure, fail } from './result.js';

/**
 * API.md: a creating request's Idempotency-Key sent again with another body is 409 `idempotency_conflict` — the
 * answer of every route that keeps the key (the generic runner, API keys, renewals), written once.
 */
export const idempotencyKeyReused = (): Failure =>
  fail('idempotency_conflict', 'this Idempotency-Key was used with another request body');
