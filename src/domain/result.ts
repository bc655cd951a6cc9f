/**
 * Expected outcomes are values, not exceptions: a caller always learns exactly why
 * something did not happen, and a job turns a failure code into a result instead of a retry.
 */
export const ERROR_CODES = [
  'validation_failed',
  'not_found',
  'conflict',
  'idempotency_conflict',
  'insufficient_balance',
  'unauthorized',
  'forbidden',
  'rate_limited',
  'unavailable',
  // an extension of the contract's table: something failed that no caller can fix (logged, 500)
  'internal',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export const isErrorCode = (value: unknown): value is ErrorCode => (ERROR_CODES as readonly unknown[]).includes(value);

export interface FieldProblem {
  /** JSON pointer-ish path of the field, e.g. `items.0.units`. */
  field: string;
  message: string;
}

export interface Failure {
  ok: false;
  code: ErrorCode;
  detail: string;
  errors?: FieldProblem[];
  /** Extra members copied into the problem body (e.g. the consumption's figures on a rejection). */
  extra?: Record<string, unknown>;
}

export interface Success<T> {
  ok: true;
  value: T;
}

export type Result<T> = Success<T> | Failure;

export const ok = <T>(value: T): Success<T> => ({ ok: true, value });

export const fail = (
  code: ErrorCode,
  detail: string,
  more: { errors?: FieldProblem[]; extra?: Record<string, unknown> } = {},
): Failure => ({ ok: false, code, detail, ...more });

/** Thrown only where a Failure must cross a boundary that cannot return it (a transaction callback). */
export class DomainError extends Error {
  constructor(readonly failure: Failure) {
    super(failure.detail);
    this.name = 'DomainError';
  }
}

export function unwrap<T>(result: Result<T>): T {
  if (!result.ok) throw new DomainError(result);
  return result.value;
}
