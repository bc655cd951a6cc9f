import type { Request, Response } from 'express';
import type { AppContext } from '../app-context.js';
import { type Html, html, query, type Renderable } from './html.js';
import type { Translate } from './i18n/catalog.js';
import type { Formatters } from './i18n/format.js';
import { DIRECTION, type Locale } from './i18n/locale.js';
import type { MessageKey } from './i18n/messages/index.js';
import type { Viewer } from './session.js';

/** What every page handler gets. */
export interface UiContext {
  app: AppContext;
  req: Request;
  res: Response;
  viewer: Viewer;
  /** The CSRF token to put in this viewer's forms. */
  csrf: string;
  /** The viewer's language (`?lang=`, then the kept choice, then Accept-Language). */
  locale: Locale;
  /** Every text of a page comes from the message catalogue (src/ui/i18n/messages). */
  t: Translate<MessageKey>;
  /** Numbers, money and dates for the viewer's locale and calendar setting. */
  fmt: Formatters;
}

/** What the frame of a page needs when there is no signed-in viewer (the login form, an error page). */
export type PageLocale = Pick<UiContext, 'locale' | 't'>;

export type Section =
  | 'overview'
  | 'clients'
  | 'packages'
  | 'credit-types'
  | 'invoices'
  | 'reports'
  | 'webhooks'
  | 'api-keys'
  | 'audit';

const NAV: Array<[Section, MessageKey, string]> = [
  ['overview', 'nav.overview', '/ui'],
  ['clients', 'nav.clients', '/ui/clients'],
  ['packages', 'nav.packages', '/ui/packages'],
  ['credit-types', 'nav.credit_types', '/ui/credit-types'],
  ['invoices', 'nav.invoices', '/ui/invoices'],
  ['reports', 'nav.reports', '/ui/reports'],
  ['webhooks', 'nav.webhooks', '/ui/webhooks'],
  ['api-keys', 'nav.api_keys', '/ui/api-keys'],
  ['audit', 'nav.audit', '/ui/audit'],
];

export const csrfField = (ctx: Pick<UiContext, 'csrf'>): Html =>
  html`<input type="hidden" name="csrf" value="${ctx.csrf}">`;

export interface PageOptions {
  title: string;
  section?: Section;
  /** Reload the page every few seconds (the reports page while a run is in progress). */
  refreshS?: number;
}

/**
 * The frame of every page: UTF-8, the viewer's language and its direction (`dir="rtl"` for Arabic; the
 * stylesheet uses logical properties, so the layout mirrors), names isolated (`<bdi>`).
 */
export function document(where: PageLocale, options: PageOptions, head: Renderable, body: Renderable): Html {
  return html`<!doctype html>
<html lang="${where.locale}" dir="${DIRECTION[where.locale]}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${options.refreshS ? html`<meta http-equiv="refresh" content="${options.refreshS}">` : ''}
<title>${options.title} · ${where.t('page.title_suffix')}</title>
<link rel="stylesheet" href="/ui/assets/ui.css">
</head>
<body>
${head}
<main>
${body}
</main>
</body>
</html>`;
}

/** The same page with one more query parameter (the language and calendar switches keep the rest). */
function samePageWith(ctx: UiContext, key: string, value: string): string {
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries(ctx.req.query)) if (typeof v === 'string' && k !== key) params[k] = v;
  params[key] = value;
  return `${ctx.req.baseUrl}${ctx.req.path === '/' ? '' : ctx.req.path}${query(params)}`;
}

/** The language switch (each language named in itself) and the calendar switch. */
function switches(ctx: UiContext): Html {
  const other = ctx.locale === 'ar' ? 'en' : 'ar';
  const otherLang = html`<a href="${samePageWith(ctx, 'lang', other)}" lang="${other}" hreflang="${other}"
    data-lang-switch="${other}">${ctx.t(other === 'ar' ? 'lang.ar' : 'lang.en')}</a>`;
  const nextCalendar = ctx.fmt.calendar === 'hijri' ? 'gregory' : 'hijri';
  const calendar = html`<a href="${samePageWith(ctx, 'calendar', nextCalendar)}" data-calendar-switch="${nextCalendar}"
    title="${ctx.t('switch.calendar')}">${ctx.t(nextCalendar === 'hijri' ? 'switch.hijri' : 'switch.gregorian')}</a>`;
  return html`<div class="switches">${otherLang} ${calendar}</div>`;
}

export function page(ctx: UiContext, options: PageOptions, body: Renderable): Html {
  const links = NAV.map(([section, label, href]) => {
    const current = section === options.section ? html` class="current" aria-current="page"` : '';
    return html`<a href="${href}"${current}>${ctx.t(label)}</a>`;
  });
  const account =
    ctx.viewer.via === 'session'
      ? html`<form method="post" action="/ui/logout">${csrfField(ctx)}<button type="submit">${ctx.t(
          'account.logout',
        )}</button></form>`
      : html`<span class="muted">${ctx.t('account.admin_key')}</span>`;
  const header = html`<header class="top">
  <a class="brand" href="/ui">${ctx.t('app.name')}</a>
  <nav aria-label="${ctx.t('nav.label')}">${links}</nav>
  ${switches(ctx)}
  ${account}
</header>`;
  return document(ctx, options, header, body);
}

export function send(res: Response, status: number, body: Html): void {
  res.status(status).set({ 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).send(body.value);
}

/** Status badge. */
export const badge = (status: string): Html => html`<span class="badge ${status}">${status}</span>`;

/** A time as a person reads it in the business time zone. */
export function when(at: Date | string | null | undefined, timeZone: string, withTime = true): string {
  if (!at) return '—';
  const date = typeof at === 'string' ? new Date(at) : at;
  if (Number.isNaN(date.getTime())) return String(at);
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    ...(withTime ? { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' as const } : {}),
  }).formatToParts(date);
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  return withTime
    ? `${get('year')}-${get('month')}-${get('day')} ${get('hour')}:${get('minute')}`
    : `${get('year')}-${get('month')}-${get('day')}`;
}

/** Notices a page shows after a form posted and redirected (fixed texts: nothing from the query is echoed). */
const NOTICES: Record<string, { text: string; error?: boolean }> = {
  renewed: { text: 'The subscription was renewed.' },
  renew_queued: { text: 'The renewal is queued; it will show here once the worker has done it.' },
  renew_failed: { text: 'The subscription could not be renewed.', error: true },
  recharged: { text: 'The subscription was recharged.' },
  recharge_queued: { text: 'The recharge is queued; it will show here once the worker has done it.' },
  recharge_failed: { text: 'The subscription could not be recharged.', error: true },
  report_queued: { text: 'The report is queued; this page refreshes until it is ready.' },
  frozen: { text: 'The subscription is frozen: its balances pay for nothing until it is unfrozen.' },
  freeze_failed: {
    text:
      'The subscription could not be frozen (it must be active, and its package must allow the days asked for ' +
      'in this period).',
    error: true,
  },
  unfrozen: { text: 'The subscription is unfrozen: its period end and expiries moved later by the frozen time.' },
  unfreeze_failed: { text: 'The subscription could not be unfrozen.', error: true },
  enabled: { text: 'The webhook endpoint is enabled: new events are delivered to it again.' },
  enable_failed: { text: 'The webhook endpoint could not be enabled.', error: true },
  bad_csrf: { text: 'The form had expired; please try again.', error: true },
};

const FAILURE_TEXT: Record<string, string> = {
  conflict:
    'its state does not allow it (cancelled, pending payment, suspended, frozen, or set to cancel at period end)',
  not_found: 'it no longer exists',
  unavailable: 'the queue or the database is unavailable right now',
  validation_failed: 'the request was not valid',
  idempotency_conflict: 'the same form was sent before with other values',
};

export function notice(req: Request): Html {
  const code = typeof req.query.notice === 'string' ? req.query.notice : undefined;
  const found = code ? NOTICES[code] : undefined;
  if (!found) return html``;
  const reason = typeof req.query.code === 'string' ? FAILURE_TEXT[req.query.code] : undefined;
  const because = reason ? html` Reason: ${reason}.` : '';
  return html`<div class="notice${found.error ? ' error' : ''}" role="status">${found.text}${because}</div>`;
}
