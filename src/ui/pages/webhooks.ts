import { deliveryCountsOfEndpoints, listLiveEndpoints } from '../../db/repositories/webhooks.js';
import { queryText } from '../form.js';
import { code, type Html, html, name, path, query } from '../html.js';
import { badge, csrfField, nextLink, notice, page, type UiContext } from '../layout.js';

/** Why an endpoint was disabled (jobs/deliver-webhook.ts writes it), in the page's language; its error as it is. */
export function disabledReason(ctx: UiContext, reason: string | null): Html {
  const m = reason ? /^delivery (\S+) failed (\d+) attempts in a row; the last: ([\s\S]*)$/.exec(reason) : null;
  if (!m) return html`<span lang="en" dir="ltr">${reason ?? ''}</span>`;
  return ctx.t('webhooks.disabled_reason', {
    delivery: code(m[1]),
    attempts: ctx.fmt.number(m[2] ?? '0'),
    count: Number(m[2]),
    error: html`<span lang="en" dir="ltr">${m[3]}</span>`,
  });
}

/**
 * The webhook endpoints: where events go, whether each is disabled (a delivery failed all its attempts: it gets no
 * new deliveries) and why, with a button to enable it again.
 */
export async function webhooksPage(ctx: UiContext): Promise<Html> {
  const { t, fmt } = ctx;
  const db = ctx.app.db;
  const result = await listLiveEndpoints(db, { limit: 100, cursor: queryText(ctx.req.query.cursor) });
  const counts = await deliveryCountsOfEndpoints(
    db,
    result.data.map((e) => e.id),
  );
  const disabled = result.data.filter((e) => e.disabled_at).length;
  const events = (list: readonly string[]): Html =>
    fmt.list(list.map((event) => (event === '*' ? t('webhooks.all_events') : code(event))));
  return page(
    ctx,
    { title: t('webhooks.title'), section: 'webhooks' },
    html`<h1>${t('webhooks.title')}</h1>
<p class="sub">${t('webhooks.lead')}${
      disabled > 0
        ? html` <strong>${t('webhooks.disabled_count', { count: disabled, number: fmt.number(disabled) })}</strong>`
        : ''
    }</p>
${notice(ctx)}
<p><a class="button" href="/ui/webhooks/new" data-action="new-webhook">${ctx.t('setup.link.new_webhook')}</a></p>
<section class="panel">
  ${
    result.data.length === 0
      ? html`<p class="empty">${t('webhooks.none_yet')}</p>`
      : html`<div class="scroll"><table>
    <thead><tr>
      <th>${t('webhooks.col_url')}</th><th>${t('webhooks.col_events')}</th><th>${t('col.status')}</th>
      <th class="num">${t('webhooks.col_delivered')}</th><th class="num">${t('webhooks.col_pending')}</th>
      <th class="num">${t('webhooks.col_failed')}</th><th>${t('col.created')}</th>
      <th><span class="visually-hidden">${t('col.actions')}</span></th>
    </tr></thead>
    <tbody>${result.data.map((e) => {
      const c = counts.get(e.id) ?? { pending: 0, delivered: 0, failed: 0 };
      return html`<tr data-endpoint="${e.id}">
      <td>${code(e.url)}${e.description ? html`<br><span class="muted">${name(e.description)}</span>` : ''}</td>
      <td>${events(e.events)}</td>
      <td>${
        e.disabled_at
          ? html`${badge(ctx, 'disabled')}<br><span class="muted">${t('webhooks.since', {
              time: fmt.dateTime(e.disabled_at),
            })}</span><br><span class="muted" data-reason>${disabledReason(ctx, e.disabled_reason)}</span>`
          : badge(ctx, 'active')
      }</td>
      <td class="num">${fmt.number(c.delivered)}</td>
      <td class="num">${fmt.number(c.pending)}</td>
      <td class="num">${fmt.number(c.failed)}</td>
      <td class="nowrap">${fmt.date(e.created_at)}</td>
      <td><a href="${path`/ui/webhooks/${e.id}/deliveries`}">${ctx.t('setup.link.deliveries')}</a> ${
        e.disabled_at
          ? html`<form class="inline" method="post"
          action="${path`/ui/webhooks/${e.id}/enable`}">${csrfField(ctx)}<button
          type="submit" data-action="enable">${t('webhooks.enable')}</button></form>`
          : ''
      }</td>
    </tr>`;
    })}</tbody>
  </table></div>`
  }
  ${result.nextCursor ? nextLink(ctx, `/ui/webhooks${query({ cursor: result.nextCursor })}`) : ''}
</section>`,
  );
}
