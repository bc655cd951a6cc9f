import type express from 'express';
import type { Request, Response } from 'express';
import { type ClientRow, findClient } from '../../db/repositories/clients.js';
import type { QuoteView } from '../../services/quote.js';
import {
  type FormCall,
  type FormFields,
  formFields,
  oneTimeKey,
  replied,
  replyId,
  routeWouldRefuse,
  submitRoute,
  textField,
} from '../form.js';
import { type Html, path, query } from '../html.js';
import type { MessageKey } from '../i18n/messages/index.js';
import type { UiKit } from '../kit.js';
import type { NoticeCode, UiContext } from '../layout.js';
import { adjustmentBody, adjustRefusedMessage, balanceOf, balancePage } from '../pages/adjust.js';
import { type FormState, keptValues, type Refusal, refusalOf } from '../pages/commerce-parts.js';
import { cancelConfirmPage, isConfirmed, reverseConfirmPage, voidConfirmPage } from '../pages/confirm.js';
import {
  consumePage,
  consumptionBody,
  consumptionPage,
  insufficientMessage,
  usableCreditTypes,
} from '../pages/consumption-form.js';
import { invoicePage, invoicesPage } from '../pages/invoices.js';
import { saleBody, salePage, salePriceMessage, subscriptionPage } from '../pages/sell.js';

/** After a form acted: 303 to the page that shows what it did, with its notice. */
const seeOther = (res: Response, to: string, notice: NoticeCode): void => {
  res.redirect(303, `${to}${query({ notice })}`);
};

/**
 * The commerce part of the back office (issue 18): sell a subscription and show its invoice; cancel,
 * suspend and resume it; quote and register a consumption and show which balances paid for it; reverse
 * it; adjust a balance with a reason; list invoices, pay and void them. Every write is the API route's
 * own, called through `submitRoute` (schemas, handler, idempotency) as the signed-in admin key; a refusal
 * re-renders the form with the values kept and each message beside its field (422), or the domain's
 * reason (409, 422 for want of units), never a 500.
 */
export function commerceActions(router: express.Router, kit: UiKit): void {
  /** Sends a page a handler rendered again after a refusal, or the 404 page when its subject is gone. */
  const answer = (req: Request, res: Response, status: number, body: Html | undefined, missing: MessageKey) => {
    if (body) kit.send(res, status, body);
    else kit.notFound(req, res, missing);
  };
  const param = (req: Request, name: string): string => String(req.params[name] ?? '');
  /** The client a form is for (`:ref`); undefined once the 404 page is sent. */
  const clientOf = async (ctx: UiContext): Promise<ClientRow | undefined> => {
    const client = await findClient(ctx.app.db, param(ctx.req, 'ref'));
    if (!client) kit.notFound(ctx.req, ctx.res, 'error.no_client');
    return client;
  };
  /**
   * An action that cannot be undone, sent from its detail page: answered with the page that says what it will do
   * (200), nothing done, or the 404 page; true when so. Sent from that page's button (`confirmed=yes`), with values
   * the route refuses (a reason too long: refused at once, beside its field, not after a confirmation that would
   * carry them on), or its subject's state leaving nothing to confirm (the route refuses or finds it done): false,
   * the caller acts — with the route's call it asked about.
   */
  const askFirst = async (
    ctx: UiContext,
    fields: FormFields,
    render: (ctx: UiContext, subject: string, fields: FormFields) => Promise<Html | null | undefined>,
    subject: string,
    missing: MessageKey,
    action: { template: string; call: FormCall },
  ): Promise<boolean> => {
    if (isConfirmed(fields)) return false;
    if (routeWouldRefuse(ctx, 'post', action.template, action.call)) return false;
    const confirmation = await render(ctx, subject, fields);
    if (confirmation === null) return false;
    answer(ctx.req, ctx.res, 200, confirmation, missing);
    return true;
  };
  /**
   * A refused form's page again, the values typed kept and each message beside its field (or the 404 page). Its key
   * sent before with other values (409 idempotency_conflict: the Back button, a value changed) is refused whenever
   * it comes again: the form gets a new one, as its message says ("it has a new key now, send it again").
   */
  const showRefused = async (
    ctx: UiContext,
    refusal: Refusal,
    fields: FormFields,
    render: (ctx: UiContext, subject: string, form: Required<FormState>) => Promise<Html | undefined>,
    subject: string,
    missing: MessageKey,
  ) => {
    const values = keptValues(fields);
    if (refusal.code === 'idempotency_conflict' && values.idem !== undefined) values.idem = oneTimeKey();
    answer(ctx.req, ctx.res, refusal.status, await render(ctx, subject, { values, refusal }), missing);
  };

  // selling
  router.get('/clients/:ref/sell', async (req, res) =>
    kit.pageRoute((ctx) => salePage(ctx, param(req, 'ref')), 'error.no_client')(req, res),
  );
  router.post('/clients/:ref/sell', async (req, res) => {
    const ctx = kit.context(req, res);
    const client = await clientOf(ctx);
    if (!client) return;
    const fields = formFields(req);
    const outcome = await submitRoute(ctx, 'post', '/v1/subscriptions', {
      body: await saleBody(ctx, client, fields),
      idem: textField(fields, 'idem'),
    });
    const sold = replied(outcome, 201);
    if (sold) {
      seeOther(res, path`/ui/subscriptions/${replyId(sold)}`, 'subscription_sold');
      return;
    }
    const refusal = refusalOf(ctx, outcome);
    const priceMessage = await salePriceMessage(ctx, fields);
    if (priceMessage && refusal.errors.has('price'))
      refusal.errors = new Map([...refusal.errors, ['price', priceMessage]]);
    await showRefused(ctx, refusal, fields, salePage, client.id, 'error.no_client');
  });

  // a subscription: cancel, suspend, resume
  router.get('/subscriptions/:id', async (req, res) =>
    kit.pageRoute((ctx) => subscriptionPage(ctx, param(req, 'id')), 'error.no_subscription')(req, res),
  );
  router.post('/subscriptions/:id/cancel', async (req, res) => {
    const ctx = kit.context(req, res);
    const id = param(req, 'id');
    const fields = formFields(req);
    const reason = textField(fields, 'reason');
    const cancel = {
      template: '/v1/subscriptions/{id}/cancel',
      call: { params: { id }, body: { at: textField(fields, 'at'), ...(reason !== undefined ? { reason } : {}) } },
    };
    if (await askFirst(ctx, fields, cancelConfirmPage, id, 'error.no_subscription', cancel)) return;
    const outcome = await submitRoute(ctx, 'post', cancel.template, cancel.call);
    const done = replied(outcome, 200);
    if (done) {
      const notice = done.status === 'cancelled' ? 'subscription_cancelled' : 'subscription_cancel_scheduled';
      seeOther(res, path`/ui/subscriptions/${id}`, notice);
      return;
    }
    await showRefused(ctx, refusalOf(ctx, outcome), fields, subscriptionPage, id, 'error.no_subscription');
  });
  /** Suspend (`status=suspended`) or resume (`status=active`): PATCH /v1/subscriptions/{id}, as the API offers it. */
  router.post('/subscriptions/:id/status', async (req, res) => {
    const ctx = kit.context(req, res);
    const id = param(req, 'id');
    const fields = formFields(req);
    const status = textField(fields, 'status');
    const outcome = await submitRoute(ctx, 'patch', '/v1/subscriptions/{id}', {
      params: { id },
      body: { status },
    });
    const done = replied(outcome, 200);
    if (done) {
      seeOther(
        res,
        path`/ui/subscriptions/${id}`,
        done.status === 'suspended' ? 'subscription_suspended' : 'subscription_resumed',
      );
      return;
    }
    await showRefused(ctx, refusalOf(ctx, outcome), fields, subscriptionPage, id, 'error.no_subscription');
  });

  // consuming: quote, register, reverse
  router.get('/clients/:ref/consume', async (req, res) =>
    kit.pageRoute((ctx) => consumePage(ctx, param(req, 'ref')), 'error.no_client')(req, res),
  );
  router.post('/clients/:ref/consume', async (req, res) => {
    const ctx = kit.context(req, res);
    const client = await clientOf(ctx);
    if (!client) return;
    const fields = formFields(req);
    const values = keptValues(fields);
    const creditTypes = await usableCreditTypes(ctx);
    if (textField(fields, 'action') === 'quote') {
      // a quote writes nothing: the same form comes back with what the use would take
      const outcome = await submitRoute(ctx, 'post', '/v1/consumptions/quote', {
        body: consumptionBody(ctx, client, creditTypes, fields, false),
      });
      const quote = replied(outcome, 200);
      if (quote) {
        kit.send(res, 200, (await consumePage(ctx, client.id, { values, quote: quote as unknown as QuoteView }))!);
        return;
      }
      const refusal = refusalOf(ctx, outcome);
      answer(req, res, refusal.status, await consumePage(ctx, client.id, { values, refusal }), 'error.no_client');
      return;
    }
    const outcome = await submitRoute(ctx, 'post', '/v1/consumptions', {
      query: { wait: 'true' },
      body: consumptionBody(ctx, client, creditTypes, fields, true),
    });
    const applied = replied(outcome, 200);
    const queued = replied(outcome, 202);
    if (applied || queued) {
      const body = (applied ?? queued)!;
      seeOther(res, path`/ui/consumptions/${replyId(body)}`, applied ? 'consumption_applied' : 'consumption_queued');
      return;
    }
    const refusal = refusalOf(ctx, outcome);
    if (refusal.code === 'insufficient_balance') refusal.message = insufficientMessage(ctx, refusal.extra);
    // a refused use is recorded under its key (a repeat answers the same refusal): the next try needs a new one
    if (refusal.code === 'insufficient_balance' || refusal.code === 'idempotency_conflict') values.idem = oneTimeKey();
    answer(req, res, refusal.status, await consumePage(ctx, client.id, { values, refusal }), 'error.no_client');
  });
  router.get('/consumptions/:id', async (req, res) =>
    kit.pageRoute((ctx) => consumptionPage(ctx, param(req, 'id')), 'commerce.error.no_consumption')(req, res),
  );
  router.post('/consumptions/:id/reverse', async (req, res) => {
    const ctx = kit.context(req, res);
    const id = param(req, 'id');
    const fields = formFields(req);
    const reason = textField(fields, 'reason');
    const reverse = {
      template: '/v1/consumptions/{id}/reverse',
      call: { params: { id }, query: { wait: 'true' }, body: reason !== undefined ? { reason } : undefined },
    };
    if (await askFirst(ctx, fields, reverseConfirmPage, id, 'commerce.error.no_consumption', reverse)) return;
    const outcome = await submitRoute(ctx, 'post', reverse.template, reverse.call);
    const reversed = replied(outcome, 200);
    if (reversed || replied(outcome, 202)) {
      seeOther(res, path`/ui/consumptions/${id}`, reversed ? 'consumption_reversed' : 'reversal_queued');
      return;
    }
    await showRefused(ctx, refusalOf(ctx, outcome), fields, consumptionPage, id, 'commerce.error.no_consumption');
  });

  // adjusting a balance
  const balanceRoute = async (req: Request, res: Response) =>
    kit.pageRoute((ctx) => balancePage(ctx, param(req, 'id')), 'commerce.error.no_balance')(req, res);
  router.get('/balances/:id', balanceRoute);
  router.get('/balances/:id/adjust', balanceRoute);
  router.post('/balances/:id/adjust', async (req, res) => {
    const ctx = kit.context(req, res);
    const id = param(req, 'id');
    const fields = formFields(req);
    const outcome = await submitRoute(ctx, 'post', '/v1/balances/{id}/adjustments', {
      params: { id },
      body: adjustmentBody(fields),
      idem: textField(fields, 'idem'),
    });
    if (replied(outcome, 201)) {
      seeOther(res, path`/ui/balances/${id}`, 'balance_adjusted');
      return;
    }
    const refusal = refusalOf(ctx, outcome);
    if (refusal.code === 'insufficient_balance') {
      const unit = (await balanceOf(ctx, id))?.view.credit_type.unit ?? '';
      refusal.message = adjustRefusedMessage(ctx, refusal.extra, unit);
    }
    await showRefused(ctx, refusal, fields, balancePage, id, 'commerce.error.no_balance');
  });

  // invoices
  router.get('/invoices', kit.pageRoute(invoicesPage));
  router.get('/invoices/:id', async (req, res) =>
    kit.pageRoute((ctx) => invoicePage(ctx, param(req, 'id')), 'commerce.error.no_invoice')(req, res),
  );
  const invoiceAction = (action: 'pay' | 'void') => async (req: Request, res: Response) => {
    const ctx = kit.context(req, res);
    const id = param(req, 'id');
    const fields = formFields(req);
    const reason = textField(fields, 'reason');
    const act =
      action === 'pay'
        ? { template: '/v1/invoices/{id}/pay', call: { params: { id } } }
        : {
            template: '/v1/invoices/{id}/void',
            call: { params: { id }, body: reason !== undefined ? { reason } : undefined },
          };
    if (action === 'void' && (await askFirst(ctx, fields, voidConfirmPage, id, 'commerce.error.no_invoice', act)))
      return;
    const outcome = await submitRoute(ctx, 'post', act.template, act.call);
    const done = replied(outcome, 200);
    if (done) {
      seeOther(res, path`/ui/invoices/${replyId(done) || id}`, action === 'pay' ? 'invoice_paid' : 'invoice_voided');
      return;
    }
    await showRefused(ctx, refusalOf(ctx, outcome), fields, invoicePage, id, 'commerce.error.no_invoice');
  };
  router.post('/invoices/:id/pay', invoiceAction('pay'));
  router.post('/invoices/:id/void', invoiceAction('void'));
}
