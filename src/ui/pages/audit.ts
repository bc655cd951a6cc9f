import {
  AUDIT_ORIGINS,
  type AuditEventRow,
  type AuditFilter,
  type AuditOrigin,
  listAuditEvents,
} from '../../db/repositories/audit.js';
import { DomainError } from '../../domain/result.js';
import { dayStart } from '../date-inputs.js';
import { queryText } from '../form.js';
import { code, type Html, html, name, query } from '../html.js';
import { nextLink, page, type UiContext } from '../layout.js';
import { selectOptions } from '../options.js';

const PAGE_SIZE = 50;

const isOrigin = (value: string | undefined): value is AuditOrigin =>
  value !== undefined && (AUDIT_ORIGINS as readonly string[]).includes(value);

interface Filters {
  actor?: string | undefined;
  action?: string | undefined;
  origin?: AuditOrigin | undefined;
  from?: string | undefined;
  to?: string | undefined;
}

const ORIGIN_LABEL = {
  api: 'admin.audit.origin_api',
  ui: 'admin.audit.origin_ui',
  cli: 'admin.audit.origin_cli',
} as const satisfies Record<AuditOrigin, string>;

function filterForm(ctx: UiContext, filters: Filters, badDates: ReadonlySet<'from' | 'to'>): Html {
  const dateField = (field: 'from' | 'to', label: 'admin.audit.from' | 'admin.audit.to') => {
    const bad = badDates.has(field);
    const message = bad
      ? html`<p class="field-error" id="error-${field}" role="alert">${ctx.t('admin.audit.bad_date', {
          format: code('YYYY-MM-DD'),
        })}</p>`
      : '';
    return html`<label>${ctx.t(label)}<input type="date" name="${field}" value="${filters[field] ?? ''}"${
      bad ? html` aria-invalid="true" aria-describedby="error-${field}"` : ''
    }>${message}</label>`;
  };
  return html`<form method="get" action="/ui/audit" class="form-grid" role="search"
  aria-label="${ctx.t('admin.audit.filters')}">
  <label>${ctx.t('admin.audit.actor')}<input name="actor" value="${filters.actor ?? ''}" maxlength="200"></label>
  <label>${ctx.t('admin.audit.action')}<input name="action" value="${filters.action ?? ''}" maxlength="200"
    dir="ltr"></label>
  <label>${ctx.t('admin.audit.origin')}<select name="origin">${selectOptions(
    [['', ctx.t('admin.audit.origin_any')], ...AUDIT_ORIGINS.map((o) => [o, ctx.t(ORIGIN_LABEL[o])] as const)],
    filters.origin,
  )}</select></label>
  ${dateField('from', 'admin.audit.from')}
  ${dateField('to', 'admin.audit.to')}
  <div class="actions"><a class="button secondary" href="/ui/audit">${ctx.t('admin.audit.filter_clear')}</a><button
    type="submit">${ctx.t('admin.audit.filter_submit')}</button></div>
</form>`;
}

function eventRow(ctx: UiContext, event: AuditEventRow): Html {
  const refused = event.status >= 400;
  return html`<tr data-event="${event.id}" data-origin="${event.origin}">
  <td class="nowrap">${ctx.fmt.dateTime(event.at)}</td>
  <td>${name(event.actor_name)}${
    event.actor_key_id ? html`<br><code dir="ltr" class="small">${event.actor_key_id}</code>` : ''
  }</td>
  <td>${ctx.t(ORIGIN_LABEL[event.origin])}</td>
  <td><code dir="ltr" data-action>${event.action}</code></td>
  <td>${event.target_id ? html`<code dir="ltr">${event.target_id}</code>` : ctx.t('word.none')}</td>
  <td><span class="badge ${refused ? 'failed' : 'active'}">${ctx.t(
    refused ? 'admin.audit.refused' : 'admin.audit.done',
  )}</span> <code dir="ltr" data-status>${String(event.status)}</code>${
    event.request_id
      ? html`<br><span class="muted small">${ctx.t('admin.audit.request_id', {
          id: html`<code dir="ltr">${event.request_id}</code>`,
        })}</span>`
      : ''
  }</td>
  <td>${
    event.request === null || event.request === undefined
      ? ctx.t('word.none')
      : html`<details><summary>${ctx.t('admin.audit.show_request')}</summary><pre dir="ltr"><code>${JSON.stringify(
          event.request,
          null,
          2,
        )}</code></pre></details>`
  }</td>
</tr>`;
}

/** The audit trail, newest first: filters by who, what, through what and when; a page at a time. */
export async function auditPage(ctx: UiContext): Promise<Html> {
  const q = ctx.req.query;
  const tz = ctx.app.config.BUSINESS_TZ;
  const origin = queryText(q.origin, 200);
  const filters: Filters = {
    actor: queryText(q.actor, 200),
    action: queryText(q.action, 200),
    origin: isOrigin(origin) ? origin : undefined,
    from: queryText(q.from, 10),
    to: queryText(q.to, 10),
  };
  const badDates = new Set<'from' | 'to'>();
  const from = filters.from === undefined ? undefined : dayStart(filters.from, tz);
  if (filters.from !== undefined && !from) badDates.add('from');
  // "until" a day includes that day: the bound is the start of the next one
  const to = filters.to === undefined ? undefined : dayStart(filters.to, tz, 1);
  if (filters.to !== undefined && !to) badDates.add('to');
  const filter: AuditFilter = { actor: filters.actor, action: filters.action, origin: filters.origin, from, to };
  const cursor = queryText(q.cursor);
  let result: Awaited<ReturnType<typeof listAuditEvents>>;
  try {
    result = await listAuditEvents(ctx.app.db, { limit: PAGE_SIZE, cursor }, filter);
  } catch (error) {
    // a cursor this page did not give out: the first page instead
    if (!(error instanceof DomainError)) throw error;
    result = await listAuditEvents(ctx.app.db, { limit: PAGE_SIZE }, filter);
  }
  const next = result.nextCursor ? query({ ...filters, cursor: result.nextCursor }) : undefined;
  return page(
    ctx,
    { title: ctx.t('admin.audit.title').value, section: 'audit' },
    html`<h1>${ctx.t('admin.audit.title')}</h1>
<p class="sub">${ctx.t('admin.audit.lead')}</p>
<section class="panel">${filterForm(ctx, filters, badDates)}</section>
<section class="panel">
  ${
    result.data.length === 0
      ? html`<p class="empty">${ctx.t('admin.audit.empty')}</p>`
      : html`<div class="scroll"><table data-audit>
    <thead><tr>
      <th>${ctx.t('admin.audit.col_at')}</th><th>${ctx.t('admin.audit.col_actor')}</th>
      <th>${ctx.t('admin.audit.col_origin')}</th><th>${ctx.t('admin.audit.col_action')}</th>
      <th>${ctx.t('admin.audit.col_target')}</th><th>${ctx.t('admin.audit.col_status')}</th>
      <th>${ctx.t('admin.audit.col_request')}</th>
    </tr></thead>
    <tbody>${result.data.map((event) => eventRow(ctx, event))}</tbody>
  </table></div>`
  }
  ${next ? nextLink(ctx, `/ui/audit${next}`) : ''}
</section>`,
  );
}
