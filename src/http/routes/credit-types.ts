import { z } from 'zod';
import { findCreditType, listCreditTypes } from '../../db/repositories/credit-types.js';
import { fail } from '../../domain/result.js';
import { codeSchema, FORBIDDEN_KEYS, fixed, idParams, listOf, nameSchema, pageQuery } from '../../schemas/common.js';
import { createCreditType, patchCreditType } from '../../services/credit-types.js';
import { creditTypeView, toCreditTypeView } from '../../views/credit-type.js';
import { page, replyWith } from '../reply.js';
import { type AnyRoute, defineRoute } from '../route.js';

const unitSchema = z
  .string()
  .trim()
  .min(1, 'is required')
  .max(50)
  .meta({ description: 'Singular noun of one unit: "message", "hour", "call".' });

/** How many dimensions a credit type may declare. */
export const MAX_DIMENSIONS = 5;

/** Day, week and month name the usage endpoint's calendar groupings: a dimension may not take them. */
const RESERVED_DIMENSIONS = new Set(['day', 'week', 'month']);

const dimensionsSchema = z
  .array(
    z
      .string()
      .regex(/^[a-z][a-z0-9_]{0,39}$/, 'must be a lower-case key: a letter, then letters, digits or _ (at most 40)')
      .refine((key) => !RESERVED_DIMENSIONS.has(key), 'day, week and month are groupings of their own')
      // a use's metadata may not carry these keys (metadataSchema): such a dimension could never be filled
      .refine((key) => !FORBIDDEN_KEYS.has(key), {
        error: (issue) => `"${String(issue.input)}" is a key no metadata may carry: name the dimension otherwise`,
      }),
  )
  .max(MAX_DIMENSIONS, `at most ${MAX_DIMENSIONS} dimensions`)
  .refine((keys) => new Set(keys).size === keys.length, 'each key once')
  .meta({
    description:
      'Up to 5 metadata keys (e.g. `branch`, `employee`) whose values each consumption keeps, to group usage by. ' +
      "A consumption's value for a key is its metadata's string, number or boolean under that key.",
  });

const createBody = z.strictObject({
  code: codeSchema,
  name: nameSchema,
  unit: unitSchema,
  decimals: z.number().int().min(0).max(6).default(0).meta({ description: 'How finely a unit may be split (0–6).' }),
  dimensions: dimensionsSchema.optional(),
});

const patchBody = z
  .strictObject({
    name: nameSchema.optional(),
    unit: unitSchema.optional(),
    archived: z.boolean().optional(),
    dimensions: dimensionsSchema.optional(),
    code: fixed('other systems name the credit type by its code'),
    decimals: fixed('stored quantities of the credit type are scaled by its decimals'),
  })
  .refine((b) => Object.keys(b).length > 0, 'give at least one field to change');

export const creditTypeRoutes: AnyRoute[] = [
  defineRoute({
    method: 'post',
    path: '/v1/credit-types',
    access: 'admin',
    tag: 'catalog',
    summary: 'Create a credit type',
    body: createBody,
    idempotency: 'stored',
    responses: { 201: { description: 'Created', schema: creditTypeView }, 409: { description: 'The code is taken' } },
    handler: async ({ body, db, app }) =>
      replyWith(await createCreditType(db, body, app.clock.now()), 201, toCreditTypeView),
  }),
  defineRoute({
    method: 'get',
    path: '/v1/credit-types',
    access: 'read',
    tag: 'catalog',
    summary: 'List credit types',
    query: pageQuery.extend({ archived: z.enum(['true', 'false']).optional() }),
    responses: { 200: { description: 'A page of credit types', schema: listOf(creditTypeView) } },
    handler: async ({ query, db }) => {
      const result = await listCreditTypes(db, query, {
        archived: query.archived === undefined ? undefined : query.archived === 'true',
      });
      return { status: 200, body: page(result.data.map(toCreditTypeView), result.nextCursor) };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/credit-types/{id}',
    access: 'read',
    tag: 'catalog',
    summary: 'Get a credit type by id or code',
    params: idParams,
    responses: {
      200: { description: 'The credit type', schema: creditTypeView },
      404: { description: 'No such credit type' },
    },
    handler: async ({ params, db }) => {
      const row = await findCreditType(db, params.id);
      return row ? { status: 200, body: toCreditTypeView(row) } : fail('not_found', `no credit type "${params.id}"`);
    },
  }),
  defineRoute({
    method: 'patch',
    path: '/v1/credit-types/{id}',
    access: 'admin',
    tag: 'catalog',
    summary: 'Rename, change the unit word, declare dimensions, or archive a credit type',
    description:
      '`code` and `decimals` never change: other systems name the type by its code, and stored quantities depend ' +
      'on its decimals.',
    params: idParams,
    body: patchBody,
    responses: { 200: { description: 'Updated', schema: creditTypeView }, 404: { description: 'No such credit type' } },
    handler: async ({ params, body, db, app, afterCommit }) => {
      const result = await patchCreditType(db, params.id, body, app.clock.now());
      // a renamed unit is what this process names from now on (other processes: within CREDIT_TYPE_TTL_MS)
      if (result.ok) afterCommit(async () => app.refs.forgetCreditType(result.value.id));
      return replyWith(result, 200, toCreditTypeView);
    },
  }),
];
