import { reportRows } from '../../db/reports/rows.js';
import { findPackage, listPackages } from '../../db/repositories/packages.js';
import { renewalsQuery } from '../../reports/renewals.js';
import { subscriptionsQuery } from '../../reports/subscriptions.js';
import { creditTypesOfPackages } from '../../services/packages.js';
import { type PackageView, toPackageView } from '../../views/package.js';
import { barChart, type Point } from '../charts.js';
import { type Html, html, name, path, query } from '../html.js';
import { badge, page, type UiContext, when } from '../layout.js';
import { CHART_DAYS, chartDays, money } from './overview.js';

const str = (value: unknown): string | undefined =>
  typeof value === 'string' && value.length > 0 && value.length <= 500 ? value : undefined;

const validity = (v: { count: number; unit: string }): string => `${v.count} ${v.unit}${v.count === 1 ? '' : 's'}`;

const itemList = (items: PackageView['items']): Html[] =>
  items.map((i, n) => html`${n > 0 ? ', ' : ''}${i.units} ${i.credit_type.code}`);

export async function packagesPage(ctx: UiContext): Promise<Html> {
  const db = ctx.app.db;
  const result = await listPackages(db, { limit: 100, cursor: str(ctx.req.query.cursor) }, {});
  const creditTypes = await creditTypesOfPackages(db, result.data);
  const views = result.data.map((p) => toPackageView(p, creditTypes));
  return page(
    ctx,
    { title: 'Packages', section: 'packages' },
    html`<h1>Packages</h1>
<p class="sub">What clients can buy.</p>
<p><a class="button" href="/ui/packages/new" data-action="new-package">${ctx.t('setup.link.new_package')}</a></p>
<section class="panel">
  ${
    views.length === 0
      ? html`<p class="empty">No packages yet.</p>`
      : html`<div class="scroll"><table>
    <thead><tr>
      <th>Name</th><th>Code</th><th>Items</th><th class="num">Price</th><th>Validity</th><th>Status</th>
    </tr></thead>
    <tbody>${views.map(
      (p) => html`<tr>
      <td dir="auto"><a href="${path`/ui/packages/${p.id}`}">${name(p.name)}</a></td>
      <td><code>${p.code}</code></td>
      <td>${itemList(p.items)}</td>
      <td class="num">${money(p.price, p.currency)}</td>
      <td>${validity(p.validity)}</td>
      <td>${badge(p.status)}</td>
    </tr>`,
    )}</tbody>
  </table></div>`
  }
  ${
    result.nextCursor
      ? html`<p class="pager"><a href="/ui/packages${query({ cursor: result.nextCursor })}">Next page →</a></p>`
      : ''
  }
</section>`,
  );
}

export async function packagePage(ctx: UiContext, ref: string): Promise<Html | undefined> {
  const { app } = ctx;
  const db = app.db;
  const pkg = await findPackage(db, ref);
  if (!pkg) return undefined;
  const view = toPackageView(pkg, await creditTypesOfPackages(db, [pkg]));
  const now = app.clock.now();
  const tz = app.config.BUSINESS_TZ;
  const { from, labels } = chartDays(now, tz);
  const summary = await reportRows(db, subscriptionsQuery({ asOf: now, packageId: pkg.id, summaryOnly: true }));
  const rows = await reportRows(db, subscriptionsQuery({ asOf: now, packageId: pkg.id }), 200);
  const subscriptions = rows.filter((r) => r.row_type === 'subscription').slice(0, 100);
  const activity = await reportRows(
    db,
    renewalsQuery({ from, to: now, groupBy: 'day', timeZone: tz, packageId: pkg.id }),
  );
  const byDay = new Map<string, { requests: number; revenue: number; currency: string }>();
  for (const r of activity) {
    const entry = byDay.get(String(r.period_start)) ?? { requests: 0, revenue: 0, currency: String(r.currency) };
    entry.requests += Number(r.new_subscriptions) + Number(r.renewals);
    entry.revenue += Number(r.revenue);
    byDay.set(String(r.period_start), entry);
  }
  const points: Point[] = labels.map((label) => {
    const value = byDay.get(label)?.requests ?? 0;
    return { label, value, display: String(value) };
  });
  const requests = points.reduce((s, p) => s + p.value, 0);
  const revenue = [...byDay.values()].reduce((s, d) => s + d.revenue, 0);
  const depleted = subscriptions.filter((s) => s.status === 'active' && s.depleted === true).length;
  const isOrAre = depleted === 1 ? ' is' : 's are';
  const description = view.description ? html` · <bdi>${view.description}</bdi>` : '';
  const rolloverPercent = view.rollover.policy === 'percent' ? html` (${view.rollover.percent}%)` : '';

  return page(
    ctx,
    { title: pkg.name, section: 'packages' },
    html`<h1 dir="auto">${name(view.name)}</h1>
<p class="sub"><code>${view.code}</code> · ${badge(view.status)}${description}</p>
<p><a href="${path`/ui/packages/${view.id}/edit`}">${ctx.t('setup.link.edit_package')}</a></p>
<div class="grid">
  <section class="panel" aria-labelledby="terms-h">
    <h2 id="terms-h">Terms</h2>
    <dl class="kv">
      <dt>Price</dt><dd>${money(view.price, view.currency)}</dd>
      <dt>Recharge price</dt><dd>${money(view.recharge_price, view.currency)}</dd>
      <dt>Validity</dt><dd>${validity(view.validity)}</dd>
      <dt>Items</dt><dd>${itemList(view.items)}</dd>
      <dt>Rollover</dt><dd>${view.rollover.policy}${rolloverPercent}</dd>
      <dt>Auto-renew default</dt><dd>${view.auto_renew ? 'yes' : 'no'}</dd>
      <dt>Priority</dt><dd>${view.priority}</dd>
    </dl>
  </section>
  <section class="panel" aria-labelledby="pstatus-h">
    <h2 id="pstatus-h">Subscriptions by status</h2>
    ${
      summary.length === 0
        ? html`<p class="empty">Nobody has subscribed yet.</p>`
        : html`<table>
      <thead><tr><th>Status</th><th class="num">Count</th></tr></thead>
      <tbody>${summary.map(
        (r) => html`<tr><td>${badge(String(r.status))}</td><td class="num">${r.count}</td></tr>`,
      )}</tbody>
    </table>
    <p class="legend">${depleted} active subscription${isOrAre} depleted (nothing usable left).</p>`
    }
  </section>
</div>
<section class="panel" aria-labelledby="req-h">
  <h2 id="req-h">New subscriptions and renewals per day, last ${CHART_DAYS} days</h2>
  ${barChart({ title: `${view.code} requests`, unit: 'subscriptions', points, width: 960, height: 220, integer: true })}
  <p class="legend">${requests} in total, ${money(revenue, view.currency)} invoiced (void invoices left out).</p>
</section>
<section class="panel" aria-labelledby="psubs-h">
  <h2 id="psubs-h">Subscriptions</h2>
  ${
    subscriptions.length === 0
      ? html`<p class="empty">None.</p>`
      : html`<div class="scroll"><table>
    <thead><tr>
      <th>Client</th><th>Status</th><th>Current period</th>
      <th class="num">Days left</th><th>Depleted</th><th>Auto-renew</th>
    </tr></thead>
    <tbody>${subscriptions.map((s) => {
      const client = html`<a href="${path`/ui/clients/${String(s.client_ref)}`}">${name(String(s.client_name))}</a>`;
      return html`<tr>
      <td dir="auto">${client} <span class="muted">${s.client_ref}</span></td>
      <td>${badge(String(s.status))}</td>
      <td class="nowrap">${when(String(s.period_start), tz, false)} → ${when(String(s.period_end), tz, false)}</td>
      <td class="num">${s.days_left}</td>
      <td>${s.depleted ? 'yes' : 'no'}</td>
      <td>${s.auto_renew ? 'yes' : 'no'}</td>
    </tr>`;
    })}</tbody>
  </table></div>`
  }
</section>`,
  );
}
