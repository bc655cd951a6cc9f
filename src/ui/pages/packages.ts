import { reportRows } from '../../db/reports/rows.js';
import { subscriptionCountsOfPackage } from '../../db/reports/subscriptions.js';
import { clientsNamed } from '../../db/repositories/clients.js';
import { findPackage, listPackages } from '../../db/repositories/packages.js';
import { settleOwedAnywhere } from '../../jobs/swept-reads.js';
import { renewalsQuery } from '../../reports/renewals.js';
import { subscriptionsQuery } from '../../reports/subscriptions.js';
import { packageRequestsQuery } from '../../reports/top-packages.js';
import { creditTypesOfPackages } from '../../services/packages.js';
import { type PackageView, toPackageView } from '../../views/package.js';
import { barChart, type Point } from '../charts.js';
import { queryText } from '../form.js';
import { code, type Html, html, name, path, query } from '../html.js';
import { badge, nextLink, notice, page, type UiContext } from '../layout.js';
import { validity } from '../words.js';
import { CHART_DAYS, chartDays, dayPoint } from './overview.js';

/** A package's page lists this many of its subscriptions (the `subscriptions` report has them all). */
const LISTED = 100;
/** The subscriptions report's summary rows of one package: one per status at most (SubscriptionStatus has six). */
const STATUSES = 6;

/** A package's items: "1,000 sms, 200 voice" with the locale's digits and list words. */
const itemList = (ctx: UiContext, items: PackageView['items']): Html =>
  ctx.fmt.list(items.map((i) => html`${ctx.fmt.number(i.units)} ${code(i.credit_type.code)}`));

/** A rollover policy: none, all, or a percent of what is left (capped, when it is). */
function rollover(ctx: UiContext, r: PackageView['rollover']): Html {
  if (r.policy === 'none' || r.policy === 'all') return ctx.t(`rollover.${r.policy}`);
  const percent = ctx.fmt.percent(r.percent);
  return typeof r.cap_percent === 'number'
    ? ctx.t('rollover.percent_capped', { percent, cap: ctx.fmt.percent(r.cap_percent) })
    : ctx.t('rollover.percent', { percent });
}

export async function packagesPage(ctx: UiContext): Promise<Html> {
  const { t, fmt } = ctx;
  const db = ctx.app.db;
  const result = await listPackages(db, { limit: 100, cursor: queryText(ctx.req.query.cursor) }, {});
  const creditTypes = await creditTypesOfPackages(db, result.data);
  const views = result.data.map((p) => toPackageView(p, creditTypes));
  return page(
    ctx,
    { title: t('packages.title'), section: 'packages' },
    html`<h1>${t('packages.title')}</h1>
<p class="sub">${t('packages.lead')}</p>
<p><a class="button" href="/ui/packages/new" data-action="new-package">${ctx.t('setup.link.new_package')}</a></p>
<section class="panel">
  ${
    views.length === 0
      ? html`<p class="empty">${t('packages.none_yet')}</p>`
      : html`<div class="scroll"><table>
    <thead><tr>
      <th>${t('col.name')}</th><th>${t('col.code')}</th><th>${t('col.items')}</th><th class="num">${t('col.price')}</th>
      <th>${t('col.validity')}</th><th>${t('col.status')}</th>
    </tr></thead>
    <tbody>${views.map(
      (p) => html`<tr>
      <td><a href="${path`/ui/packages/${p.id}`}">${name(p.name)}</a></td>
      <td>${code(p.code)}</td>
      <td>${itemList(ctx, p.items)}</td>
      <td class="num">${fmt.money(p.price, p.currency)}</td>
      <td>${validity(ctx, p.validity)}</td>
      <td>${badge(ctx, p.status)}</td>
    </tr>`,
    )}</tbody>
  </table></div>`
  }
  ${result.nextCursor ? nextLink(ctx, `/ui/packages${query({ cursor: result.nextCursor })}`) : ''}
</section>`,
  );
}

export async function packagePage(ctx: UiContext, ref: string): Promise<Html | undefined> {
  const { app, t, fmt } = ctx;
  const db = app.db;
  const pkg = await findPackage(db, ref);
  if (!pkg) return undefined;
  const view = toPackageView(pkg, await creditTypesOfPackages(db, [pkg]));
  // live counts of every client of the package: what the sweep owes anyone is done first, as
  // GET /v1/subscriptions?package=&status=active does (a freeze past its frozen_until is counted active)
  await settleOwedAnywhere(app);
  const now = app.clock.now();
  const tz = app.config.BUSINESS_TZ;
  const { from, labels } = chartDays(now, tz);
  const summary = await reportRows(
    db,
    subscriptionsQuery({ asOf: now, packageId: pkg.id, summaryOnly: true, live: true }),
  );
  // the first 100 in the list (the report's summary rows, one per status, come first); every one in the counts
  const rows = await reportRows(
    db,
    subscriptionsQuery({ asOf: now, packageId: pkg.id, live: true }),
    LISTED + STATUSES,
  );
  const subscriptions = rows.filter((r) => r.row_type === 'subscription').slice(0, LISTED);
  const counts = await subscriptionCountsOfPackage(db, pkg.id, now);
  // requests as `top_packages` counts them over the same days: a renewal taken back since is none (it stays in the
  // `renewals` report's `renewals` of the day it was made, and in its `renewals_undone` of the day it was undone)
  const perDay = await reportRows(db, packageRequestsQuery({ from, to: now, timeZone: tz, packageId: pkg.id }));
  const requestsOn = new Map(perDay.map((r) => [String(r.period_start), Number(r.requests)]));
  // the money as the `renewals` report has it: invoiced in these days, less the voids made in them
  const activity = await reportRows(
    db,
    renewalsQuery({ from, to: now, groupBy: 'day', timeZone: tz, packageId: pkg.id }),
  );
  const points: Point[] = labels.map((day) => {
    const value = requestsOn.get(day) ?? 0;
    return dayPoint(ctx, day, value, fmt.number(value));
  });
  const requests = points.reduce((s, p) => s + p.value, 0);
  const revenue = activity.reduce((s, r) => s + Number(r.revenue), 0);
  // a client linked by its id: its external_ref may be a word of the pages' own paths (/ui/clients/new)
  const clientIds = new Map(
    (await clientsNamed(db, [...new Set(subscriptions.map((s) => String(s.client_ref)))])).map((c) => [
      c.external_ref,
      c.id,
    ]),
  );
  const depleted = counts.depleted;
  const description = view.description ? html` · <bdi>${view.description}</bdi>` : '';
  const yesNo = (value: unknown) => t(value ? 'word.yes' : 'word.no');

  return page(
    ctx,
    { title: pkg.name, section: 'packages' },
    html`<h1>${name(view.name)}</h1>
<p class="sub">${code(view.code)} · ${badge(ctx, view.status)}${description}</p>
${notice(ctx)}
<p><a href="${path`/ui/packages/${view.id}/edit`}">${ctx.t('setup.link.edit_package')}</a></p>
<div class="grid">
  <section class="panel" aria-labelledby="terms-h">
    <h2 id="terms-h">${t('packages.terms_h')}</h2>
    <dl class="kv">
      <dt>${t('col.price')}</dt><dd>${fmt.money(view.price, view.currency)}</dd>
      <dt>${t('packages.recharge_price')}</dt><dd>${fmt.money(view.recharge_price, view.currency)}</dd>
      <dt>${t('col.validity')}</dt><dd>${validity(ctx, view.validity)}</dd>
      <dt>${t('col.items')}</dt><dd>${itemList(ctx, view.items)}</dd>
      <dt>${t('packages.rollover')}</dt><dd>${rollover(ctx, view.rollover)}</dd>
      <dt>${t('packages.auto_renew_default')}</dt><dd>${yesNo(view.auto_renew)}</dd>
      <dt>${t('packages.priority')}</dt><dd>${fmt.number(view.priority)}</dd>
      <dt>${t('packages.freeze_days')}</dt><dd>${
        view.max_freeze_days === null ? t('packages.no_freeze') : fmt.number(view.max_freeze_days)
      }</dd>
      <dt>${t('packages.low_balance')}</dt><dd>${t('packages.low_balance_at', {
        percent: fmt.percent(view.low_balance_percent),
      })}</dd>
    </dl>
  </section>
  <section class="panel" aria-labelledby="pstatus-h">
    <h2 id="pstatus-h">${t('overview.status_h')}</h2>
    ${
      summary.length === 0
        ? html`<p class="empty">${t('packages.nobody')}</p>`
        : html`<table>
      <thead><tr><th>${t('col.status')}</th><th class="num">${t('col.count')}</th></tr></thead>
      <tbody>${summary.map(
        (r) =>
          html`<tr><td>${badge(ctx, String(r.status))}</td><td class="num">${fmt.number(Number(r.count))}</td></tr>`,
      )}</tbody>
    </table>
    <p class="legend">${t('packages.depleted', { count: depleted, number: fmt.number(depleted) })}</p>`
    }
  </section>
</div>
<section class="panel" aria-labelledby="req-h">
  <h2 id="req-h">${t('packages.requests_h', {
    last: t('word.last_days', { count: CHART_DAYS, days: fmt.number(CHART_DAYS) }),
  })}</h2>
  ${barChart(ctx, {
    title: view.code,
    unit: t('packages.chart_unit'),
    points,
    width: 960,
    height: 220,
    integer: true,
  })}
  <p class="legend">${t('packages.requests_legend', {
    count: requests,
    number: fmt.number(requests),
    revenue: fmt.money(revenue, view.currency),
  })}</p>
</section>
<section class="panel" aria-labelledby="psubs-h">
  <h2 id="psubs-h">${t('clients.subscriptions_h')}</h2>
  ${
    subscriptions.length === 0
      ? html`<p class="empty">${t('packages.no_subscriptions')}</p>`
      : html`<div class="scroll"><table>
    <thead><tr>
      <th>${t('col.client')}</th><th>${t('col.status')}</th><th>${t('col.current_period')}</th>
      <th class="num">${t('packages.col_days_left')}</th><th>${t('packages.col_depleted')}</th>
      <th>${t('col.auto_renew')}</th>
    </tr></thead>
    <tbody>${subscriptions.map((s) => {
      const ref = String(s.client_ref);
      const href = path`/ui/clients/${clientIds.get(ref) ?? ref}`;
      const client = html`<a href="${href}">${name(String(s.client_name))}</a>`;
      return html`<tr>
      <td>${client} ${code(s.client_ref, true)}</td>
      <td>${badge(ctx, String(s.status))}</td>
      <td class="period">${t('word.range', {
        from: fmt.date(String(s.period_start)),
        to: fmt.date(String(s.period_end)),
      })}</td>
      <td class="num">${fmt.number(Number(s.days_left))}</td>
      <td>${yesNo(s.depleted)}</td>
      <td>${yesNo(s.auto_renew)}</td>
    </tr>`;
    })}</tbody>
  </table></div>`
  }
  ${
    counts.total > subscriptions.length
      ? html`<p class="legend" data-more>${t('packages.first_listed', {
          shown: fmt.number(subscriptions.length),
          number: fmt.number(counts.total),
          report: html`<a href="/ui/reports">${t('reports.type.subscriptions')}</a>`,
        })}</p>`
      : ''
  }
</section>`,
  );
}
