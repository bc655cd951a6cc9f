import { z } from 'zod';
import { findClient } from '../../db/repositories/clients.js';
import { findInvoice, listInvoices } from '../../db/repositories/invoices.js';
import { fail } from '../../domain/result.js';
import { isUuid } from '../../ids.js';
import { renewAheadOnCommit } from '../../jobs/renew-ahead.js';
import { idParams, listOf, pageQuery, REASON_MAX_LENGTH, refSchema } from '../../schemas/common.js';
import { invoiceViews, payInvoice, voidInvoice } from '../../services/invoices.js';
import { invoiceView } from '../../views/invoice.js';
import { page, replyWith } from '../reply.js';
import { type AnyRoute, defineRoute } from '../route.js';

export const invoiceRoutes: AnyRoute[] = [
  defineRoute({
    method: 'get',
    path: '/v1/invoices',
    access: 'read',
    tag: 'invoices',
    summary: 'List invoices',
    query: pageQuery.extend({
      client: refSchema.optional(),
      subscription: z.uuid().optional(),
      status: z.enum(['issued', 'paid', 'void']).optional(),
      kind: z.enum(['subscription', 'renewal', 'recharge']).optional(),
    }),
    responses: { 200: { description: 'A page of invoices', schema: listOf(invoiceView) } },
    handler: async ({ query, db }) => {
      let clientId: string | undefined;
      if (query.client) {
        const client = await findClient(db, query.client);
        if (!client) return { status: 200, body: page([], null) };
        clientId = client.id;
      }
      const result = await listInvoices(db, query, {
        clientId,
        subscriptionId: query.subscription,
        status: query.status,
        kind: query.kind,
      });
      return { status: 200, body: page(await invoiceViews(db, result.data), result.nextCursor) };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/invoices/{id}',
    access: 'read',
    tag: 'invoices',
    summary: 'Get an invoice by id or number',
    params: idParams,
    responses: { 200: { description: 'The invoice', schema: invoiceView }, 404: { description: 'No such invoice' } },
    handler: async ({ params, db }) => {
      const invoice = await findInvoice(db, params.id, isUuid(params.id));
      return invoice
        ? { status: 200, body: (await invoiceViews(db, [invoice]))[0] }
        : fail('not_found', `no invoice "${params.id}"`);
    },
  }),
  defineRoute({
    method: 'post',
    path: '/v1/invoices/{id}/pay',
    access: 'write',
    tag: 'invoices',
    summary: 'Record the payment of an invoice',
    description:
      'Paying again answers the same invoice. Paying the first invoice of an `activation=on_payment` ' +
      'subscription activates it. A void invoice cannot be paid (409) — among them the first invoice of a ' +
      'pending subscription whose period ended unpaid, which the expiry sweep voids when it expires the ' +
      'subscription (refused from the moment that period ends, even before the sweep ran): a payment never buys ' +
      'a period that is over.',
    params: idParams,
    responses: {
      200: { description: 'Paid', schema: invoiceView },
      404: { description: 'No such invoice' },
      409: { description: 'The invoice is void (voided by hand, or unpaid when its pending subscription lapsed)' },
    },
    handler: async ({ params, db, app, auth, afterCommit }) =>
      replyWith(
        await payInvoice(db, params.id, {
          now: app.clock.now(),
          timeZone: app.config.BUSINESS_TZ,
          actor: `key:${auth?.keyId}`,
          // activated with a period ending before the next nightly run: renewed ahead now
          onRenewable: renewAheadOnCommit(app, afterCommit),
        }),
        200,
        async (i) => (await invoiceViews(db, [i]))[0],
      ),
  }),
  defineRoute({
    method: 'post',
    path: '/v1/invoices/{id}/void',
    access: 'write',
    tag: 'invoices',
    summary: 'Void an unpaid invoice',
    description:
      'Voiding again answers the same invoice; a paid invoice cannot be voided. Voiding the unpaid first invoice ' +
      'of a pending subscription cancels it.',
    params: idParams,
    body: z.strictObject({ reason: z.string().max(REASON_MAX_LENGTH).optional() }).optional(),
    responses: {
      200: { description: 'Voided', schema: invoiceView },
      404: { description: 'No such invoice' },
      409: { description: 'The invoice is paid' },
    },
    handler: async ({ params, body, db, app, auth }) =>
      replyWith(
        await voidInvoice(db, params.id, body?.reason, {
          now: app.clock.now(),
          timeZone: app.config.BUSINESS_TZ,
          actor: `key:${auth?.keyId}`,
        }),
        200,
        async (i) => (await invoiceViews(db, [i]))[0],
      ),
  }),
];
