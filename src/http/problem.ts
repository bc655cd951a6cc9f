import type { ServerResponse } from 'node:http';
import type { ErrorCode, Failure, FieldProblem } from '../domain/result.js';
import { writeJson } from './reply.js';

/** The one table from a result code to an HTTP status (API.md), plus the extensions listed after it. */
export const STATUS_OF: Record<ErrorCode | 'payload_too_large', number> = {
  validation_failed: 422,
  not_found: 404,
  conflict: 409,
  idempotency_conflict: 409,
  insufficient_balance: 422,
  unauthorized: 401,
  forbidden: 403,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
  // extension: a body over BODY_LIMIT
  payload_too_large: 413,
};

const TITLE_OF: Record<keyof typeof STATUS_OF, string> = {
  validation_failed: 'Validation failed',
  not_found: 'Not found',
  conflict: 'Conflict',
  idempotency_conflict: 'Idempotency key reused with another payload',
  insufficient_balance: 'Insufficient balance',
  unauthorized: 'Unauthorized',
  forbidden: 'Forbidden',
  rate_limited: 'Too many requests',
  unavailable: 'Service unavailable',
  internal: 'Internal error',
  payload_too_large: 'Payload too large',
};

export type ProblemCode = keyof typeof STATUS_OF;

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ProblemCode;
  errors?: FieldProblem[];
  [extra: string]: unknown;
}

export function problemBody(
  code: ProblemCode,
  detail: string,
  errors?: FieldProblem[],
  extra?: Record<string, unknown>,
): ProblemBody {
  // API.md: `errors` lists the field problems of a 422; one found without a field is the request's
  const fields =
    errors && errors.length > 0
      ? errors
      : code === 'validation_failed'
        ? [{ field: '(request)', message: detail }]
        : undefined;
  return {
    ...extra,
    type: `urn:credits:problem:${code}`,
    title: TITLE_OF[code],
    status: STATUS_OF[code],
    detail,
    code,
    ...(fields ? { errors: fields } : {}),
  };
}

export const problemFromFailure = (failure: Failure): ProblemBody =>
  problemBody(failure.code, failure.detail, failure.errors, failure.extra);

const PROBLEM_TYPE = 'application/problem+json; charset=utf-8';

export function sendProblem(res: ServerResponse, body: ProblemBody, headers?: Record<string, string>): void {
  writeJson(res, body.status, body, headers, PROBLEM_TYPE);
}
