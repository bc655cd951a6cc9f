import type express from 'express';
import type { Request, Response } from 'express';
import { STATUS_OF } from '../../http/problem.js';
import { formFields, listField, refusedFields, submitRoute, textField } from '../form.js';
import { type Html, html, query } from '../html.js';
import type { UiKit } from '../kit.js';
import type { UiContext } from '../layout.js';
import { apiKeysPage, keyMadePage, keyToRevoke, prefixCode, revokeConfirmPage } from '../pages/api-keys.js';
import { auditPage } from '../pages/audit.js';

/** Why a call was refused, in the viewer's language (the failure codes of the common area). */
function reasonOf(ctx: UiContext, code: string): Html {
  switch (code) {
    case 'conflict':
    case 'not_found':
    case 'unavailable':
    case 'validation_failed':
    case 'idempotency_conflict':
      return ctx.t(`failure.${code}`);
    default:
      return html`<code dir="ltr">${code}</code>`;
  }
}

/** The prefix of the key a form sent twice made (the route names it in `api_key`, without the secret). */
function prefixOfFirst(extra: Record<string, unknown> | undefined): string {
  const first = extra?.api_key;
  const prefix = first && typeof first === 'object' ? (first as { prefix?: unknown }).prefix : undefined;
  return typeof prefix === 'string' ? prefix : '';
}

/**
 * The admin part of the back office: API keys (make one — shown once —, list, revoke) and the audit
 * trail. Every change goes through the API's own route (submitRoute), so it is the API's action, with
 * its checks, and it lands in the audit trail with origin `ui`.
 */
export function adminActions(router: express.Router, kit: UiKit): void {
  router.get(
    '/api-keys',
    kit.pageRoute((ctx) => apiKeysPage(ctx)),
  );

  router.post('/api-keys', async (req: Request, res: Response) => {
    const ctx = kit.context(req, res);
    const fields = formFields(req);
    const values = { name: textField(fields, 'name'), scope: textField(fields, 'scope') };
    const outcome = await submitRoute(ctx, 'post', '/v1/api-keys', {
      body: { name: values.name, scopes: listField(fields, 'scope') },
      idem: textField(fields, 'idem'),
    });
    if (outcome.kind === 'reply' && outcome.reply.status === 201) {
      kit.send(res, 200, keyMadePage(ctx, outcome.reply.body as Parameters<typeof keyMadePage>[1]));
      return;
    }
    if (outcome.kind === 'failure') {
      const { failure } = outcome;
      const problem =
        failure.code === 'conflict'
          ? ctx.t('admin.keys.sent_twice', { prefix: prefixCode(prefixOfFirst(failure.extra)) })
          : ctx.t('admin.keys.refused', { reason: reasonOf(ctx, failure.code) });
      kit.send(
        res,
        STATUS_OF[failure.code],
        await apiKeysPage(ctx, { values, errors: refusedFields(ctx, outcome, fields), problem }),
      );
      return;
    }
    kit.send(res, 422, await apiKeysPage(ctx, { values, errors: refusedFields(ctx, outcome, fields) }));
  });

  router.get('/api-keys/:id/revoke', async (req: Request, res: Response) => {
    const ctx = kit.context(req, res);
    const key = await keyToRevoke(ctx, String(req.params.id));
    if (!key) return kit.notFound(req, res, 'admin.keys.no_key');
    if (key.revoked_at) return res.redirect(303, '/ui/api-keys');
    kit.send(res, 200, revokeConfirmPage(ctx, key));
  });

  router.post('/api-keys/:id/revoke', async (req: Request, res: Response) => {
    const ctx = kit.context(req, res);
    const id = String(req.params.id);
    const outcome = await submitRoute(ctx, 'post', '/v1/api-keys/{id}/revoke', { params: { id } });
    if (outcome.kind === 'reply') {
      res.redirect(303, `/ui/api-keys${query({ notice: 'api_key_revoked' })}`);
      return;
    }
    const key = await keyToRevoke(ctx, id);
    if (!key || (outcome.kind === 'failure' && outcome.failure.code === 'not_found'))
      return kit.notFound(req, res, 'admin.keys.no_key');
    const problem =
      outcome.kind === 'failure' && outcome.failure.code === 'conflict'
        ? ctx.t('admin.keys.last_admin')
        : ctx.t('failure.reason', {
            reason: reasonOf(ctx, outcome.kind === 'failure' ? outcome.failure.code : 'validation_failed'),
          });
    kit.send(res, 409, revokeConfirmPage(ctx, key, problem));
  });

  router.get('/audit', kit.pageRoute(auditPage));
}
