import type express from 'express';
import type { Request } from 'express';
import { findClient } from '../../db/repositories/clients.js';
import { type CreditTypeRow, findCreditType } from '../../db/repositories/credit-types.js';
import { storedResponse } from '../../db/repositories/idempotency-records.js';
import { isStorableText } from '../../domain/storable-text.js';
import type { WebhookEndpointView } from '../../webhooks/endpoints.js';
import { formFields, formIdempotencyKey, replyId, submitRoute, textField } from '../form.js';
import { path, query } from '../html.js';
import type { UiKit } from '../kit.js';
import type { UiContext } from '../layout.js';
import {
  clientCreateBody,
  clientEditPage,
  clientNewPage,
  clientPatchBody,
  metadataMessage,
} from '../pages/client-form.js';
import {
  creditTypeCreateBody,
  creditTypeEditPage,
  creditTypePatchBody,
  creditTypesPage,
} from '../pages/credit-types.js';
import {
  amountMessages,
  itemsAsRows,
  packageCreateBody,
  packageEditPage,
  packageForEdit,
  packageNewPage,
  packagePatchBody,
  withItemProblems,
} from '../pages/package-form.js';
import { refusalStatus } from '../pages/setup-kit.js';
import { webhookCreateBody, webhookCreatedPage, webhookDeliveriesPage, webhookNewPage } from '../pages/webhook-form.js';

const param = (req: Request, name: string): string => String(req.params[name] ?? '');

/**
 * The setup part of the back office (issue 18): credit types, packages, clients and webhook endpoints.
 * Every write is a call of the API's own route through `submitRoute` (its schemas, its service, its
 * idempotency, its audit); a refusal shows the form again with its values, each field's message beside it,
 * and the status the API would have answered (422 bad values, 409 a conflict), never a 500.
 */
export function setupActions(router: express.Router, kit: UiKit): void {
  // ── credit types ──
  router.get('/credit-types', kit.pageRoute(creditTypesPage));
  router.post('/credit-types', async (req, res) => {
    const ctx = kit.context(req, res);
    const values = formFields(req);
    const outcome = await submitRoute(ctx, 'post', '/v1/credit-types', {
      body: creditTypeCreateBody(values),
      idem: textField(values, 'idem'),
    });
    if (outcome.kind === 'reply') {
      res.redirect(303, `/ui/credit-types${query({ notice: 'credit_type_created' })}`);
      return;
    }
    kit.send(res, refusalStatus(outcome), await creditTypesPage(ctx, { values, outcome }));
  });
  router.get('/credit-types/:id', async (req, res) =>
    kit.pageRoute((ctx) => creditTypeEditPage(ctx, param(req, 'id')), 'setup.error.no_credit_type')(req, res),
  );
  router.post('/credit-types/:id', async (req, res) => {
    const ctx = kit.context(req, res);
    const current = await findCreditType(ctx.app.db, param(req, 'id'));
    if (!current) {
      kit.notFound(req, res, 'setup.error.no_credit_type');
      return;
    }
    const values = formFields(req);
    const body = creditTypePatchBody(values, current);
    if (Object.keys(body).length === 0) {
      res.redirect(303, `/ui/credit-types${query({ notice: 'credit_type_unchanged' })}`);
      return;
    }
    const outcome = await submitRoute(ctx, 'patch', '/v1/credit-types/{id}', { params: { id: current.id }, body });
    if (outcome.kind === 'reply') {
      res.redirect(303, `/ui/credit-types${query({ notice: 'credit_type_updated' })}`);
      return;
    }
    const shown = await creditTypeEditPage(ctx, current.id, { values, outcome });
    if (shown) kit.send(res, refusalStatus(outcome), shown);
    else kit.notFound(req, res, 'setup.error.no_credit_type');
  });
  router.post('/credit-types/:id/archive', async (req, res) => {
    const ctx = kit.context(req, res);
    const archived = textField(formFields(req), 'archived') === 'true';
    const outcome = await submitRoute(ctx, 'patch', '/v1/credit-types/{id}', {
      params: { id: param(req, 'id') },
      body: { archived },
    });
    if (outcome.kind === 'reply') {
      const notice = archived ? 'credit_type_archived' : 'credit_type_unarchived';
      res.redirect(303, `/ui/credit-types${query({ notice })}`);
      return;
    }
    const shown = await creditTypeEditPage(ctx, param(req, 'id'), { outcome });
    if (shown) kit.send(res, refusalStatus(outcome), shown);
    else kit.notFound(req, res, 'setup.error.no_credit_type');
  });

  // ── packages ──
  router.get('/packages/new', kit.pageRoute(packageNewPage));
  router.post('/packages/new', async (req, res) => {
    const ctx = kit.context(req, res);
    const values = formFields(req);
    const built = packageCreateBody(values);
    const outcome = await submitRoute(ctx, 'post', '/v1/packages', {
      body: built.body,
      idem: textField(values, 'idem'),
    });
    if (outcome.kind === 'reply') {
      res.redirect(303, `${path`/ui/packages/${replyId(outcome.reply.body)}`}${query({ notice: 'package_created' })}`);
      return;
    }
    const overrides = amountMessages(ctx, built.amountProblems, String(built.body.currency ?? ''));
    const shown = itemsAsRows(await withItemProblems(ctx, outcome, built.body.items), built.itemRows);
    kit.send(res, refusalStatus(outcome), await packageNewPage(ctx, { values, outcome: shown, overrides }));
  });
  router.get('/packages/:ref/edit', async (req, res) =>
    kit.pageRoute((ctx) => packageEditPage(ctx, param(req, 'ref')), 'error.no_package')(req, res),
  );
  router.post('/packages/:ref/edit', async (req, res) => {
    const ctx = kit.context(req, res);
    const found = await packageForEdit(ctx.app.db, param(req, 'ref'));
    if (!found) {
      kit.notFound(req, res, 'error.no_package');
      return;
    }
    const { row, view, creditTypes } = found;
    const values = formFields(req);
    // credit types the form may name that the package does not hold yet: their decimals read the units
    const built = packagePatchBody(values, row, view, await creditTypesNamedIn(ctx, values, creditTypes));
    const done = `${path`/ui/packages/${row.id}`}`;
    if (Object.keys(built.body).length === 0 && built.amountProblems.size === 0) {
      res.redirect(303, `${done}${query({ notice: 'package_unchanged' })}`);
      return;
    }
    const outcome = await submitRoute(ctx, 'patch', '/v1/packages/{id}', { params: { id: row.id }, body: built.body });
    if (outcome.kind === 'reply') {
      res.redirect(303, `${done}${query({ notice: 'package_updated' })}`);
      return;
    }
    const overrides = amountMessages(ctx, built.amountProblems, row.currency);
    const shown = await packageEditPage(ctx, row.id, {
      values,
      outcome: itemsAsRows(await withItemProblems(ctx, outcome, built.body.items), built.itemRows),
      overrides,
    });
    if (shown) kit.send(res, refusalStatus(outcome), shown);
    else kit.notFound(req, res, 'error.no_package');
  });
  router.post('/packages/:ref/archive', async (req, res) => {
    const ctx = kit.context(req, res);
    const status = textField(formFields(req), 'status') === 'active' ? 'active' : 'archived';
    const outcome = await submitRoute(ctx, 'patch', '/v1/packages/{id}', {
      params: { id: param(req, 'ref') },
      body: { status },
    });
    if (outcome.kind === 'reply') {
      const notice = status === 'archived' ? 'package_archived' : 'package_unarchived';
      res.redirect(303, `${path`/ui/packages/${replyId(outcome.reply.body)}`}${query({ notice })}`);
      return;
    }
    const shown = await packageEditPage(ctx, param(req, 'ref'), { outcome });
    if (shown) kit.send(res, refusalStatus(outcome), shown);
    else kit.notFound(req, res, 'error.no_package');
  });

  // ── clients ──
  router.get('/clients/new', kit.pageRoute(clientNewPage));
  router.post('/clients/new', async (req, res) => {
    const ctx = kit.context(req, res);
    const values = formFields(req);
    const built = clientCreateBody(values);
    const idem = textField(values, 'idem');
    const overrides = built.metadataProblem ? metadataMessage(ctx) : undefined;
    // POST /v1/clients updates the client that has the external ref already (the sales system's upsert);
    // this form creates, so an existing ref is a conflict to show, not a client to overwrite — unless
    // this very form created it a moment ago (a double submit), which the route answers again
    const ref = typeof built.body.external_ref === 'string' ? built.body.external_ref : undefined;
    // (text Postgres cannot store is not looked up: the route refuses it beside its field)
    const existing = ref !== undefined && isStorableText(ref) ? await findClient(ctx.app.db, ref) : undefined;
    if (existing && !(await sentBefore(ctx, 'POST', '/v1/clients', idem))) {
      kit.send(res, 409, await clientNewPage(ctx, { values, existing, ...(overrides ? { overrides } : {}) }));
      return;
    }
    const outcome = await submitRoute(ctx, 'post', '/v1/clients', { body: built.body, idem });
    if (outcome.kind === 'reply') {
      res.redirect(303, `${path`/ui/clients/${replyId(outcome.reply.body)}`}${query({ notice: 'client_created' })}`);
      return;
    }
    kit.send(
      res,
      refusalStatus(outcome),
      await clientNewPage(ctx, { values, outcome, ...(overrides ? { overrides } : {}) }),
    );
  });
  router.get('/clients/:ref/edit', async (req, res) =>
    kit.pageRoute((ctx) => clientEditPage(ctx, param(req, 'ref')), 'error.no_client')(req, res),
  );
  router.post('/clients/:ref/edit', async (req, res) => {
    const ctx = kit.context(req, res);
    const client = await findClient(ctx.app.db, param(req, 'ref'));
    if (!client) {
      kit.notFound(req, res, 'error.no_client');
      return;
    }
    const values = formFields(req);
    const built = clientPatchBody(values, client);
    const done = path`/ui/clients/${client.id}`;
    if (Object.keys(built.body).length === 0) {
      res.redirect(303, `${done}${query({ notice: 'client_unchanged' })}`);
      return;
    }
    const outcome = await submitRoute(ctx, 'patch', '/v1/clients/{id}', {
      params: { id: client.id },
      body: built.body,
    });
    if (outcome.kind === 'reply') {
      res.redirect(303, `${done}${query({ notice: 'client_updated' })}`);
      return;
    }
    const overrides = built.metadataProblem ? metadataMessage(ctx) : undefined;
    const shown = await clientEditPage(ctx, client.id, { values, outcome, ...(overrides ? { overrides } : {}) });
    if (shown) kit.send(res, refusalStatus(outcome), shown);
    else kit.notFound(req, res, 'error.no_client');
  });

  // ── webhook endpoints ──
  router.get(
    '/webhooks/new',
    kit.pageRoute(async (ctx) => webhookNewPage(ctx)),
  );
  router.post('/webhooks/new', async (req, res) => {
    const ctx = kit.context(req, res);
    const values = formFields(req);
    const outcome = await submitRoute(ctx, 'post', '/v1/webhook-endpoints', {
      body: webhookCreateBody(values),
      idem: textField(values, 'idem'),
    });
    if (outcome.kind === 'reply') {
      // the secret is in this answer only: no redirect (it would have to travel in a URL or be kept)
      kit.send(res, 201, webhookCreatedPage(ctx, outcome.reply.body as WebhookEndpointView));
      return;
    }
    kit.send(res, refusalStatus(outcome), webhookNewPage(ctx, { values, outcome }));
  });
  router.get('/webhooks/:id/deliveries', async (req, res) =>
    kit.pageRoute((ctx) => webhookDeliveriesPage(ctx, param(req, 'id')), 'setup.error.no_endpoint')(req, res),
  );
  router.post('/webhooks/:id/deliveries/:delivery/retry', async (req, res) => {
    const ctx = kit.context(req, res);
    const id = param(req, 'id');
    const outcome = await submitRoute(ctx, 'post', '/v1/webhook-deliveries/{id}/retry', {
      params: { id: param(req, 'delivery') },
    });
    if (outcome.kind === 'reply') {
      res.redirect(303, `${path`/ui/webhooks/${id}/deliveries`}${query({ notice: 'delivery_retried' })}`);
      return;
    }
    const failure =
      outcome.kind === 'failure'
        ? outcome.failure
        : { ok: false as const, code: 'validation_failed' as const, detail: 'not a delivery id' };
    const shown = await webhookDeliveriesPage(ctx, id, failure);
    if (shown) kit.send(res, refusalStatus(outcome), shown);
    else kit.notFound(req, res, 'setup.error.no_endpoint');
  });
}

/** Whether this form's one-time key was sent to the route before (a double submit of the same form). */
async function sentBefore(
  ctx: UiContext,
  method: string,
  template: string,
  idem: string | undefined,
): Promise<boolean> {
  const formKey = formIdempotencyKey(idem);
  if (!formKey) return false;
  // the key as submitRoute gives it to the route runner
  const key = { apiKeyId: ctx.viewer.auth.keyId, method, path: template, key: formKey };
  return (await storedResponse(ctx.app.db, key)) !== undefined;
}

/** The package's credit types and any other the form names, by id (to read each row's units). */
async function creditTypesNamedIn(
  ctx: UiContext,
  values: Record<string, unknown>,
  held: ReadonlyMap<string, CreditTypeRow>,
): Promise<Map<string, CreditTypeRow>> {
  const all = new Map(held);
  for (const [key, value] of Object.entries(values)) {
    if (!/^items\.\d+\.credit_type$/.test(key) || typeof value !== 'string' || value.trim() === '') continue;
    // text Postgres cannot store names no credit type (the route refuses it beside its field)
    if (!isStorableText(value)) continue;
    if ([...all.values()].some((c) => c.code === value.trim())) continue;
    const found = await findCreditType(ctx.app.db, value.trim());
    if (found) all.set(found.id, found);
  }
  return all;
}
