import type { Request, Response } from 'express';
import type { AppContext } from '../app-context.js';
import { type Html, html, query, type Renderable } from './html.js';
import type { Translate } from './i18n/catalog.js';
import type { Formatters } from './i18n/format.js';
import { DIRECTION, type Locale } from './i18n/locale.js';
import { CATALOG, type MessageKey } from './i18n/messages/index.js';
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
  /** The page's title: a translated text (`ctx.t(…)`) or a name from the database (escaped here). */
  title: string | Html;
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
<main id="main">
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

/**
 * The language switch (each language named in itself, English / العربية) and the calendar switch
 * (Gregorian, or Gregorian with the Hijri date beside it): each a pair of links to the same page, the
 * current choice marked. The choice is kept (a cookie, see i18n/locale.ts).
 */
function switches(ctx: UiContext): Html {
  const languages = (['en', 'ar'] as const).map((lang) => {
    const current = lang === ctx.locale ? html` aria-current="true"` : '';
    return html`<a href="${samePageWith(ctx, 'lang', lang)}" lang="${lang}" hreflang="${lang}"
      data-lang-switch="${lang}"${current}>${ctx.t(lang === 'ar' ? 'lang.ar' : 'lang.en')}</a>`;
  });
  const calendars = (['gregory', 'hijri'] as const).map((calendar) => {
    const current = calendar === ctx.fmt.calendar ? html` aria-current="true"` : '';
    const text = ctx.t(calendar === 'hijri' ? 'switch.hijri' : 'switch.gregorian');
    const href = samePageWith(ctx, 'calendar', calendar);
    return html`<a href="${href}" data-calendar-switch="${calendar}"${current}>${text}</a>`;
  });
  return html`<div class="switches">
    <div class="switch" role="group" aria-label="${ctx.t('switch.language')}">${languages}</div>
    <div class="switch" role="group" aria-label="${ctx.t('switch.calendar')}">${calendars}</div>
  </div>`;
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
  const header = html`<a class="skip-link" href="#main">${ctx.t('nav.skip')}</a>
<header class="top">
  <div class="bar">
    <a class="brand" href="/ui">${ctx.t('app.name')}</a>
    ${switches(ctx)}
    ${account}
  </div>
  <nav aria-label="${ctx.t('nav.label')}">${links}</nav>
</header>`;
  return document(ctx, options, header, body);
}

/** A pager's link to the next page: "Next page →" (the arrow points forward in the page's direction). */
export const nextLink = (ctx: Pick<UiContext, 't'>, href: string, text: MessageKey = 'word.next_page'): Html =>
  html`<p class="pager"><a href="${href}" rel="next">${ctx.t(text)} ${ctx.t('arrow.forward')}</a></p>`;

export function send(res: Response, status: number, body: Html): void {
  res.status(status).set({ 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).send(body.value);
}

/**
 * A status in the viewer's language: `status.<status>` of the common messages. A status without a
 * message shows as it is, marked as English.
 */
export function statusWord(ctx: Pick<UiContext, 't'>, status: string): Html {
  const key = `status.${status}`;
  return isMessageKey(key) ? ctx.t(key) : html`<span lang="en" dir="ltr">${status}</span>`;
}

/**
 * A status as a badge: its word (`statusWord`, or `word` where the page's noun needs its own — an Arabic
 * delivery is "سُلّمت", feminine), the raw status as its class (the colours) and as `data-status` (for
 * tests and scripts). The one badge of the pages.
 */
export function badge(ctx: Pick<UiContext, 't'>, status: string, word?: Html): Html {
  return html`<span class="badge ${status}" data-status="${status}">${word ?? statusWord(ctx, status)}</span>`;
}

const isMessageKey = (key: string): key is MessageKey => Object.hasOwn(CATALOG.en, key);

/** The code of a notice: `notice.<code>` in any area's messages (each area keeps its own). */
export type NoticeCode = MessageKey extends infer K ? (K extends `notice.${infer Code}` ? Code : never) : never;

const isNoticeCode = (code: string): code is NoticeCode => /^\w{1,60}$/.test(code) && isMessageKey(`notice.${code}`);

/**
 * The notice a page shows after a form posted and redirected (`?notice=<code>&code=<failure>`): see
 * `noticeOf`. Only known codes show: nothing from the query is echoed.
 */
export function notice(ctx: Pick<UiContext, 'req' | 't'>): Html {
  const code = ctx.req.query.notice;
  if (typeof code !== 'string' || !isNoticeCode(code)) return html``;
  return noticeOf(ctx, code, typeof ctx.req.query.code === 'string' ? ctx.req.query.code : undefined);
}

/**
 * A notice: the text of `notice.<code>`, an error when the code ends in `_failed`, and the reason of
 * `failure.<failure>` when there is one. The code is in `data-notice` (browser tests select on it).
 */
export function noticeOf(ctx: Pick<UiContext, 't'>, code: NoticeCode, failure?: string): Html {
  const { t } = ctx;
  const reason = `failure.${failure}`;
  const known = failure !== undefined && isMessageKey(reason) && reason !== 'failure.reason';
  const because = known ? html` ${t('failure.reason', { reason: t(reason) })}` : '';
  return code.endsWith('_failed')
    ? html`<div class="notice error" role="alert" data-notice="${code}">${t(`notice.${code}`)}${because}</div>`
    : html`<div class="notice" role="status" data-notice="${code}">${t(`notice.${code}`)}${because}</div>`;
}
