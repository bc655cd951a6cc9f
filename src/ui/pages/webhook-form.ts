import {
  deliveriesOfEndpoint,
  type EndpointDeliveryRow,
  endpointById,
  type WebhookEndpointRow,
} from '../../db/repositories/webhooks.js';
import type { Failure } from '../../domain/result.js';
import type { RouteOutcome } from '../../http/run-route.js';
import { isUuid } from '../../ids.js';
import { SUBSCRIBABLE, type WebhookEndpointView } from '../../webhooks/endpoints.js';
import { type FormFields, listField, textField } from '../form.js';
import { code, type Html, html, path } from '../html.js';
import type { MessageKey } from '../i18n/messages/index.js';
import { badge, csrfField, notice, noticeOf, page, type UiContext } from '../layout.js';
import { failureSays, fieldSays } from '../refusals.js';
import { FormView, input, postForm } from './setup-kit.js';
import { disabledReason } from './webhooks.js';

/** How many of an endpoint's latest deliveries its page lists. */
export const DELIVERIES_SHOWN = 100;

/** POST /v1/webhook-endpoints from the add form (the service makes the signing secret). */
export function webhookCreateBody(fields: FormFields): Record<string, unknown> {
  const events = listField(fields, 'events');
  const body: Record<string, unknown> = {
    url: textField(fields, 'url'),
    // "all events" stands for every type: the others ticked beside it add nothing
    events: events.includes('*') ? ['*'] : events,
    description: textField(fields, 'description'),
  };
  for (const key of Object.keys(body)) if (body[key] === undefined) delete body[key];
  return body;
}

function eventsField(form: FormView): Html {
  const { t } = form.ctx;
  const ticked = new Set(form.posted ? form.all('events') : ['*']);
  const problems = form.errorsUnder('events');
  const boxes = SUBSCRIBABLE.map((event) => {
    const id = `f-event-${event.replace(/[^\w-]/g, '-')}`;
    const text =
      event === '*'
        ? html`${t('setup.webhook.all_events')} <code dir="ltr">*</code>`
        : html`<code
      dir="ltr">${event}</code>`;
    return html`<label class="check" for="${id}"><input id="${id}" type="checkbox" name="events" value="${event}"${
      ticked.has(event) ? html` checked` : ''
    }> ${text}</label>`;
  });
  const messages =
    problems.length === 0
      ? ''
      : html`<div class="field-error" id="error-events" role="alert">${problems.map(
          ([field, message]) =>
            html`<p>${
              fieldSays(form.ctx, message, { field }) ??
              html`${t('setup.webhook.events_invalid')} <span lang="en" dir="ltr">(${message})</span>`
            }</p>`,
        )}</div>`;
  return html`<fieldset class="events"${problems.length > 0 ? html` aria-describedby="error-events"` : ''}>
<legend>${t('setup.webhook.events')}</legend>
<div class="form-grid">${boxes}</div>${messages}</fieldset>`;
}

/** The form that adds a webhook endpoint. */
export function webhookNewPage(ctx: UiContext, posted?: { values: FormFields; outcome?: RouteOutcome }): Html {
  const { t } = ctx;
  const form = new FormView(ctx, posted);
  const fields = html`<div class="form-grid">
${input(form, 'url', {
  label: 'setup.webhook.url',
  hint: t('setup.webhook.url_hint', { scheme: code('http(s)') }),
  type: 'url',
  dir: 'ltr',
  placeholder: 'https://example.com/hooks',
})}
${input(form, 'description', { label: 'setup.webhook.description' })}
</div>
${eventsField(form)}`;
  const banner = form.banner(() => undefined);
  return page(
    ctx,
    { title: t('setup.webhook.new_title').value, section: 'webhooks' },
    html`<p><a href="/ui/webhooks">${t('setup.webhook.back')}</a></p>
<h1>${t('setup.webhook.new_title')}</h1>
<p class="sub">${t('setup.webhook.new_lead')}</p>
<section class="panel">
  ${banner}
  ${postForm(form, '/ui/webhooks/new', fields, { creates: true, submit: 'setup.webhook.create', id: 'webhook-form' })}
</section>`,
  );
}

/**
 * The answer to the add form: the endpoint with its signing secret, shown this once (the pages never
 * show it again; the API's list masks it). Not a redirect, so that the secret is never in a URL.
 */
export function webhookCreatedPage(ctx: UiContext, endpoint: WebhookEndpointView): Html {
  const { t } = ctx;
  return page(
    ctx,
    { title: t('setup.webhook.created_title').value, section: 'webhooks' },
    html`<h1>${t('setup.webhook.created_title')}</h1>
${noticeOf(ctx, 'webhook_created')}
<section class="panel" aria-labelledby="secret-h">
  <h2 id="secret-h">${t('setup.webhook.secret')}</h2>
  <p><code dir="ltr" data-secret>${endpoint.secret}</code></p>
  <p class="legend"><strong>${t('setup.webhook.secret_once')}</strong></p>
  <dl class="kv">
    <dt>${t('setup.webhook.url')}</dt><dd><code dir="ltr">${endpoint.url}</code></dd>
    <dt>${t('setup.webhook.events')}</dt><dd>${endpoint.events.map(
      (e, i) => html`${i > 0 ? ' ' : ''}<code dir="ltr">${e}</code>`,
    )}</dd>
    ${
      endpoint.description
        ? html`<dt>${t('setup.webhook.description')}</dt><dd dir="auto"><bdi>${endpoint.description}</bdi></dd>`
        : ''
    }
  </dl>
  <p><a href="${path`/ui/webhooks/${endpoint.id}/deliveries`}">${t('setup.webhook.deliveries_link')}</a> · <a
    href="/ui/webhooks">${t('setup.webhook.back')}</a></p>
</section>`,
  );
}

const DELIVERY_STATUS: Record<EndpointDeliveryRow['status'], MessageKey> = {
  pending: 'setup.delivery.pending',
  delivered: 'setup.delivery.delivered',
  failed: 'setup.delivery.failed',
};

/** Why a retry was refused, in the viewer's language (refusals.ts); the API's words beside a reason not read there. */
function retryRefusal(ctx: UiContext, failure: Failure): Html {
  const { t } = ctx;
  const said = failure.code === 'not_found' ? t('setup.delivery.retry_not_found') : failureSays(ctx, failure);
  const why =
    said === undefined
      ? html`${t('setup.delivery.retry_refused')} <span class="muted" lang="en" dir="ltr">(${failure.detail})</span>`
      : // a reason its code says all of: the line for the code
        said.value === ''
        ? t(failure.code === 'unavailable' ? 'setup.error.unavailable' : 'setup.delivery.retry_refused')
        : said;
  return html`<div class="notice error" role="alert" data-refused="${failure.code}">${why}</div>`;
}

/**
 * An endpoint's latest deliveries: how each went, when the next attempt is, and a retry for those that failed. A
 * deleted endpoint's too (its row and deliveries stay, its history): said deleted, with no retry and no enable, which
 * its route would refuse.
 */
export async function webhookDeliveriesPage(ctx: UiContext, id: string, refused?: Failure): Promise<Html | undefined> {
  const { t, fmt } = ctx;
  const db = ctx.app.db;
  const endpoint: WebhookEndpointRow | undefined = isUuid(id) ? await endpointById(db, id) : undefined;
  if (!endpoint) return undefined;
  const { data: deliveries } = await deliveriesOfEndpoint(db, endpoint.id, { limit: DELIVERIES_SHOWN });
  const deleted = endpoint.deleted_at
    ? html`<div class="notice" role="status" data-endpoint-deleted>${t('setup.webhook.deleted', {
        at: fmt.dateTime(endpoint.deleted_at),
      })}</div>`
    : '';
  const disabled =
    endpoint.disabled_at && !endpoint.deleted_at
      ? html`<div class="notice error" role="status">${t('setup.webhook.disabled', {
          since: fmt.dateTime(endpoint.disabled_at),
        })} ${
          endpoint.disabled_reason ? html`(${disabledReason(ctx, endpoint.disabled_reason)})` : ''
        }<form class="inline" method="post" action="${path`/ui/webhooks/${endpoint.id}/enable`}">${csrfField(
          ctx,
        )}<button type="submit" data-action="enable">${t('setup.webhook.enable')}</button></form></div>`
      : '';
  const rows = deliveries.map((d) => {
    // the row as the repository selects it (d.*) carries the time of the next attempt too
    const next = (d as EndpointDeliveryRow & { next_attempt_at?: Date | null }).next_attempt_at;
    const retry =
      d.status === 'failed' && !endpoint.deleted_at
        ? html`<form class="inline" method="post" action="${path`/ui/webhooks/${endpoint.id}/deliveries/${
            d.id
          }/retry`}">${csrfField(ctx)}<button type="submit" class="secondary" data-action="retry" data-delivery="${
            d.id
          }">${t('setup.delivery.retry')}</button></form>`
        : '';
    return html`<tr data-delivery="${d.id}">
  <td><code dir="ltr">${d.event_type}</code></td>
  <td class="nowrap">${fmt.dateTime(d.created_at)}</td>
  <td>${badge(ctx, d.status, t(DELIVERY_STATUS[d.status]))}</td>
  <td class="num">${fmt.number(d.attempts)}</td>
  <td class="nowrap">${d.status === 'pending' && next ? fmt.dateTime(next) : t('word.none')}</td>
  <td class="num">${d.last_status_code === null ? t('word.none') : fmt.number(d.last_status_code)}</td>
  <td>${d.last_error ? html`<span class="muted" lang="en" dir="ltr">${d.last_error}</span>` : t('word.none')}</td>
  <td class="nowrap">${d.delivered_at ? fmt.dateTime(d.delivered_at) : t('word.none')}</td>
  <td>${retry}</td>
</tr>`;
  });
  return page(
    ctx,
    { title: t('setup.delivery.title').value, section: 'webhooks' },
    html`<p><a href="/ui/webhooks">${t('setup.webhook.back')}</a></p>
<h1>${t('setup.delivery.title')}</h1>
<p class="sub"><code dir="ltr">${endpoint.url}</code>${
      endpoint.description ? html` · <bdi>${endpoint.description}</bdi>` : ''
    }</p>
${notice(ctx)}
${refused ? retryRefusal(ctx, refused) : ''}
${deleted}${disabled}
<section class="panel">
  <p class="legend">${t('setup.delivery.lead', { shown: fmt.number(DELIVERIES_SHOWN) })}</p>
  ${
    rows.length === 0
      ? html`<p class="empty">${t('setup.delivery.empty')}</p>`
      : html`<div class="scroll"><table>
    <thead><tr>
      <th>${t('setup.delivery.event')}</th><th>${t('setup.delivery.created')}</th>
      <th>${t('setup.delivery.status')}</th><th class="num">${t('setup.delivery.attempts')}</th>
      <th>${t('setup.delivery.next_attempt')}</th><th class="num">${t('setup.delivery.last_status')}</th>
      <th>${t('setup.delivery.last_error')}</th><th>${t('setup.delivery.delivered_at')}</th>
      <th><span class="muted">${t('setup.delivery.actions')}</span></th>
    </tr></thead>
    <tbody>${rows}</tbody>
  </table></div>`
  }
</section>`,
  );
}
