import { UnrecoverableError } from 'bullmq';
import type { ErrorCode, Failure } from '../domain/result.js';

/**
 * A failure that retrying cannot fix (invalid payload, unknown client, idempotency conflict). The
 * worker throws it as BullMQ's UnrecoverableError, so the job fails at once without retries, and its
 * reason starts with the contract's code: `validation_failed: quantity allows at most 2 decimals`.
 */
export function permanentError(failure: Pick<Failure, 'code' | 'detail'>): UnrecoverableError {
  return new UnrecoverableError(`${failure.code}: ${failure.detail}`);
}

/** Reads the code back from a failed job's reason (for `?wait=true` answers). */
export function failureFromReason(reason: string | undefined): { code: ErrorCode; detail: string } | undefined {
  const match = /^(validation_failed|not_found|conflict|idempotency_conflict|insufficient_balance|forbidden|unavailable): ([\s\S]*)$/.exec(reason ?? '');
  if (!match) return undefined;
  return { code: match[1] as ErrorCode, detail: match[2] ?? '' };
}
