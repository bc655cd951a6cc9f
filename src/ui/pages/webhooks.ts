import { deliveryCountsOfEndpoints, listLiveEndpoints } from '../../db/repositories/webhooks.js';
import { type Html, html, path, query } from '../html.js';
import { badge, csrfField, notice, page, type UiContext, when } from '../layout.js';

const str = (value: unknown): string | undefined =>
  typeof value === 'string' && value.length > 0 && value.length <= 500 ? value : undefined;

/**
 * The webhook endpoints: where events go, whether each is disabled (a delivery failed all its attempts: it gets no
 * new deliveries) and why, with a button to enable it again.
 */
export async function webhooksPage(ctx: UiContext): Promise<Html> {
  const db = ctx.app.db;
  const tz = ctx.app.config.BUSINESS_TZ;
  const result = await listLiveEndpoints(db, { limit: 100, cursor: str(ctx.req.query.cursor) });
  const counts = await deliveryCountsOfEndpoints(
    db,
    result.data.map((e) => e.id),
  );
  const disabled = result.data.filter((e) => e.disabled_at).length;
  return page(
    ctx,
    { title: 'Webhooks', section: 'webhooks' },
    html`<h1>Webhooks</h1>
<p class="sub">Where events are delivered.${
      disabled > 0 ? html` <strong>${disabled} disabled</strong>: they get no new events until enabled.` : ''
    }</p>
${notice(ctx.req)}
<p><a class="button" href="/ui/webhooks/new" data-action="new-webhook">${ctx.t('setup.link.new_webhook')}</a></p>
<section class="panel">
  ${
    result.data.length === 0
      ? html`<p class="empty">No webhook endpoints yet.</p>`
      : html`<div class="scroll"><table>
    <thead><tr>
      <th>URL</th><th>Events</th><th>Status</th><th class="num">Delivered</th><th class="num">Pending</th>
      <th class="num">Failed</th><th>Created</th><th></th>
    </tr></thead>
    <tbody>${result.data.map((e) => {
      const c = counts.get(e.id) ?? { pending: 0, delivered: 0, failed: 0 };
      return html`<tr data-endpoint="${e.id}">
      <td><code>${e.url}</code>${e.description ? html`<br><span class="muted">${e.description}</span>` : ''}</td>
      <td>${e.events.join(', ')}</td>
      <td>${
        e.disabled_at
          ? html`${badge('disabled')}<br><span class="muted">since ${when(e.disabled_at, tz)}</span><br><span
        class="muted" data-reason>${e.disabled_reason ?? ''}</span>`
          : badge('active')
      }</td>
      <td class="num">${c.delivered}</td>
      <td class="num">${c.pending}</td>
      <td class="num">${c.failed}</td>
      <td class="nowrap">${when(e.created_at, tz, false)}</td>
      <td><a href="${path`/ui/webhooks/${e.id}/deliveries`}">${ctx.t('setup.link.deliveries')}</a> ${
        e.disabled_at
          ? html`<form class="inline" method="post"
          action="${path`/ui/webhooks/${e.id}/enable`}">${csrfField(ctx)}<button
          type="submit" data-action="enable">Enable</button></form>`
          : ''
      }</td>
    </tr>`;
    })}</tbody>
  </table></div>`
  }
  ${
    result.nextCursor
      ? html`<p class="pager"><a href="/ui/webhooks${query({ cursor: result.nextCursor })}">Next page →</a></p>`
      : ''
  }
</section>`,
  );
}
