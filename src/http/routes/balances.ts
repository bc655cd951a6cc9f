import { z } from 'zod';
import { creditTypesByIds } from '../../db/repositories/credit-types.js';
import { availabilityOf } from '../../domain/availability.js';
import { fail } from '../../domain/result.js';
import { isUuid } from '../../ids.js';
import { placedBalanceAsSwept } from '../../jobs/swept-reads.js';
import { idParams, quantityInput, REASON_MAX_LENGTH } from '../../schemas/common.js';
import { adjustBalance } from '../../services/adjustments.js';
import { ledgerEntryView } from '../../services/balances.js';
import { placedBalanceView, toPlacedBalanceView } from '../../views/balance.js';
import { problemOf, validationProblemSchema } from '../problem-schemas.js';
import { replyWith } from '../reply.js';
import { type AnyRoute, defineRoute } from '../route.js';

export const balanceRoutes: AnyRoute[] = [
  defineRoute({
    method: 'get',
    path: '/v1/balances/{id}',
    access: 'read',
    tag: 'balances',
    summary: 'One balance (lot)',
    params: idParams,
    responses: {
      200: { description: 'The balance, with where its units stand now', schema: placedBalanceView },
      404: { description: 'No such balance' },
    },
    handler: async ({ params, db, app }) => {
      if (!isUuid(params.id)) return fail('not_found', `no balance "${params.id}"`);
      // as the sweep leaves it: a hold of its client past its expires_at holds nothing of it, a freeze past its
      // frozen_until no longer keeps it
      const balance = await placedBalanceAsSwept(app, params.id);
      if (!balance) return fail('not_found', `no balance "${params.id}"`);
      const creditType = (await creditTypesByIds(db, [balance.credit_type_id])).get(balance.credit_type_id)!;
      const availability = availabilityOf(
        { status: balance.status, validFrom: balance.valid_from, expiresAt: balance.expires_at },
        balance.subscription_status,
        app.clock.now(),
        balance.subscription_frozen_at ?? null,
      );
      return { status: 200, body: toPlacedBalanceView(balance, creditType, availability) };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/v1/balances/{id}/adjustments',
    access: 'admin',
    tag: 'balances',
    summary: 'Add or remove units on a balance, with a reason',
    description:
      'A positive `delta` adds, a negative one removes; remaining never goes below 0 (422 insufficient_balance). ' +
      'Answers the `adjust` ledger entry.',
    params: idParams,
    body: z.strictObject({
      delta: quantityInput.meta({ description: 'Signed decimal, e.g. "-2.5".' }),
      reason: z.string().trim().min(1, 'is required').max(REASON_MAX_LENGTH),
    }),
    idempotency: 'stored',
    responses: {
      201: { description: 'The ledger entry', schema: ledgerEntryView },
      404: { description: 'No such balance' },
      409: { description: 'The balance is expired or void' },
      422: {
        description:
          'Invalid delta (`validation_failed`), or a removal larger than what remains (`insufficient_balance`)',
        schema: z.union([
          validationProblemSchema,
          problemOf(['insufficient_balance'], {
            remaining: z.string().meta({ description: 'What the balance holds.' }),
            delta: z.string(),
          }),
        ]),
      },
    },
    handler: async ({ params, body, db, app, auth }) => {
      if (!isUuid(params.id)) return fail('not_found', `no balance "${params.id}"`);
      return replyWith(
        await adjustBalance(db, params.id, body, { now: app.clock.now(), actor: `key:${auth?.keyId}` }),
        201,
        (entry) => entry,
      );
    },
  }),
];
