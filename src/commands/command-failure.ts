import { UnrecoverableError } from 'bullmq';
import type { ErrorCode, Failure, FieldProblem } from '../domain/result.js';

/**
 * A job that can never succeed (invalid payload, unknown client, idempotency conflict): thrown as
 * BullMQ's UnrecoverableError so that it fails at once, without retries, carrying the contract's
 * code. Its message — the reason Bull Board shows — starts with the code
 * (`validation_failed: quantity allows at most 2 decimal places`), but nobody reads the code back
 * from it: the failure is stored (src/commands/settle.ts) and read as a value.
 */
export class CommandFailure extends UnrecoverableError {
  readonly code: ErrorCode;
  readonly detail: string;
  readonly errors: FieldProblem[] | undefined;
  readonly extra: Record<string, unknown> | undefined;

  constructor(failure: Pick<Failure, 'code' | 'detail' | 'errors' | 'extra'>) {
    super(`${failure.code}: ${failure.detail}`);
    this.name = 'CommandFailure';
    this.code = failure.code;
    this.detail = failure.detail;
    this.errors = failure.errors;
    this.extra = failure.extra;
  }

  get failure(): Failure {
    return {
      ok: false,
      code: this.code,
      detail: this.detail,
      ...(this.errors ? { errors: this.errors } : {}),
      ...(this.extra ? { extra: this.extra } : {}),
    };
  }
}
