import { z } from 'zod';
import { consumptionResultSchema } from '../views/consumption.js';
import { holdResultSchema } from '../views/hold.js';
import { type ProblemCode, STATUS_OF } from './problem.js';

/**
 * The problem bodies (RFC 9457) as /openapi.json describes them, one schema per answer the service
 * gives: the members every problem has, the `code`s an HTTP status can carry, and the extension
 * members a route adds. Each is closed (no undeclared member), so that a client or a proxy that
 * validates answers against the document finds every member it receives described there.
 */
export const fieldProblemSchema = z
  .object({
    field: z.string().meta({ description: 'Where: `quantity`, `items.3.units`, `query.limit`, `(body)`.' }),
    message: z.string(),
  })
  .meta({ id: 'FieldProblem' });

type Codes = readonly [ProblemCode, ...ProblemCode[]];

const ALL_CODES = Object.keys(STATUS_OF) as unknown as Codes;

function problemFields(codes: Codes) {
  const statuses = [...new Set(codes.map((code) => STATUS_OF[code]))];
  return {
    type: z.string().meta({ description: '`urn:credits:problem:<code>`' }),
    title: z.string(),
    status: (statuses.length === 1 ? z.literal(statuses[0]!) : z.number().int()).meta({
      description: 'The HTTP status of the answer.',
    }),
    detail: z.string(),
    code: z.enum(codes),
    errors: z.array(fieldProblemSchema).optional().meta({ description: 'Field problems, for `validation_failed`.' }),
  };
}

/** Any problem the service answers: the shape every one shares (extension members allowed). */
export const problemSchema = z
  .looseObject(problemFields(ALL_CODES))
  .meta({ id: 'Problem', description: "application/problem+json (RFC 9457) with the contract's `code`." });

/** A problem with one of `codes` and, beyond the members every problem has, exactly `extensions`. */
export const problemOf = (codes: Codes, extensions: z.ZodRawShape = {}) =>
  z.object({ ...problemFields(codes), ...extensions });

/** 422 `validation_failed`: what was wrong with each field. */
export const validationProblemSchema = z
  .object({ ...problemFields(['validation_failed']), errors: z.array(fieldProblemSchema).min(1) })
  .meta({ id: 'ValidationProblem', description: 'Bad input: nothing was changed. `errors` names each field.' });

/**
 * 422 `insufficient_balance` of a consumption (`mode=reject`): the consumption's own figures, as
 * API.md says, with its status as `consumption_status` (`status` is the HTTP status).
 */
export const insufficientBalanceProblemSchema = z
  .object({
    ...consumptionResultSchema.omit({ status: true, code: true }).shape,
    ...problemFields(['insufficient_balance']),
    consumption_status: z.literal('rejected'),
  })
  .meta({
    id: 'InsufficientBalanceProblem',
    description: "A rejected consumption: nothing was taken. The consumption's fields, and its `consumption_status`.",
  });

/** 422 `insufficient_balance` of a hold: the hold's own figures, its status as `hold_status`. */
export const holdInsufficientProblemSchema = z
  .object({
    ...holdResultSchema.omit({ status: true, code: true }).shape,
    ...problemFields(['insufficient_balance']),
    hold_status: z.literal('rejected'),
  })
  .meta({
    id: 'HoldInsufficientBalanceProblem',
    description: "A rejected hold: nothing was reserved. The hold's fields, and its `hold_status`.",
  });

/** The problem each HTTP status answers unless a route says more (src/http/openapi.ts adds them to every route). */
export const DEFAULT_PROBLEMS: Record<number, { description: string; schema: z.ZodType }> = {
  401: { description: 'No key, or a key that is not valid', schema: problemOf(['unauthorized']) },
  403: { description: "The key's scope is too small", schema: problemOf(['forbidden']) },
  404: { description: 'Not found', schema: problemOf(['not_found']) },
  409: { description: 'Conflict', schema: problemOf(['conflict', 'idempotency_conflict']) },
  413: { description: 'The body is larger than BODY_LIMIT', schema: problemOf(['payload_too_large']) },
  422: { description: 'Invalid input (see `errors`); nothing was changed', schema: validationProblemSchema },
  429: {
    description: 'Too many requests with this key, or too many unknown keys from this address; see Retry-After',
    schema: problemOf(['rate_limited']),
  },
  500: {
    description: 'An unexpected failure (logged with the request id); never a stack or a raw message',
    schema: problemOf(['internal']),
  },
  503: {
    description: 'Postgres or Redis cannot be reached; nothing was accepted: retry the same request',
    schema: problemOf(['unavailable']),
  },
};
