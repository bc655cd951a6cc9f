import { DateTime } from 'luxon';
import { reportRows } from '../../db/reports/rows.js';
import { minorDigits } from '../../domain/money.js';
import { nearlyConsumedQuery } from '../../reports/balances.js';
import { consumptionQuery } from '../../reports/consumption.js';
import { expiringQuery } from '../../reports/expiring.js';
import { subscriptionsQuery } from '../../reports/subscriptions.js';
import { topPackagesQuery } from '../../reports/top-packages.js';
import type { ReportRow } from '../../reports/types.js';
import { barChart, leftTone, meter, type Point } from '../charts.js';
import { type Html, html, name, path } from '../html.js';
import { badge, page, type UiContext, when } from '../layout.js';

export const CHART_DAYS = 30;
/** "Nearly consumed": at least this much of what a subscription holds now is used up. */
export const NEARLY_CONSUMED_PERCENT = 80;
const STATUSES = ['active', 'pending', 'suspended', 'frozen', 'expired', 'cancelled'] as const;

/** Money in minor units, for reading: 123456 USD → "1,234.56 USD". */
export function money(minor: number, currency: string): string {
  const digits = minorDigits(currency);
  const amount = (minor / 10 ** digits).toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
  return `${amount} ${currency}`;
}

/** The days of the chart, oldest first, as business-zone dates. */
export function chartDays(now: Date, timeZone: string, days = CHART_DAYS): { from: Date; labels: string[] } {
  const today = DateTime.fromJSDate(now, { zone: timeZone }).startOf('day');
  const first = today.minus({ days: days - 1 });
  const labels = Array.from({ length: days }, (_, i) => first.plus({ days: i }).toISODate() ?? '');
  return { from: first.toJSDate(), labels };
}

/** One chart per credit type: the consumption report's net units per day, missing days as 0. */
export function consumptionCharts(rows: readonly ReportRow[], labels: readonly string[]): Html[] {
  const byType = new Map<string, { unit: string; values: Map<string, string> }>();
  for (const row of rows) {
    const code = String(row.credit_type);
    const entry = byType.get(code) ?? { unit: String(row.unit), values: new Map<string, string>() };
    entry.values.set(String(row.period_start), String(row.net));
    byType.set(code, entry);
  }
  return [...byType].map(([code, entry]) => {
    const points: Point[] = labels.map((label) => {
      const display = entry.values.get(label) ?? '0';
      return { label, value: Number(display), display };
    });
    return barChart({ title: code, unit: entry.unit, points });
  });
}

const CHARTS_LEGEND =
  'Net units consumed per day (consumptions minus reversals), one chart per credit type; hover a bar for its value.';

const packageLink = (r: ReportRow): Html =>
  html`<a href="${path`/ui/packages/${String(r.package_code)}`}">${name(String(r.package_name))}</a>`;

/** `key`: the client's id or external ref, either names it in /ui/clients/…. */
const clientLink = (key: unknown, r: ReportRow): Html =>
  html`<a href="${path`/ui/clients/${String(key)}`}" dir="auto">${name(String(r.client_name))}</a>`;

export async function overviewPage(ctx: UiContext): Promise<Html> {
  const { app } = ctx;
  // the display windows read like reports: from the replica when there is one (REPORTS_DATABASE_URL)
  const db = app.reportsDb;
  const now = app.clock.now();
  const timeZone = app.config.BUSINESS_TZ;
  const { from, labels } = chartDays(now, timeZone);
  const rangeFrom = DateTime.fromJSDate(now, { zone: timeZone }).minus({ days: CHART_DAYS }).toJSDate();

  // one after another: a page is one request, the pool serves the API too
  const summary = await reportRows(db, subscriptionsQuery({ asOf: now, summaryOnly: true }));
  const usage = await reportRows(db, consumptionQuery({ from, to: now, groupBy: 'day', timeZone }));
  const top = await reportRows(db, topPackagesQuery({ from: rangeFrom, to: now }), 10);
  const nearly = await reportRows(db, nearlyConsumedQuery({ asOf: now, minPercent: NEARLY_CONSUMED_PERCENT }), 15);
  const expiring = await reportRows(db, expiringQuery({ asOf: now, daysAhead: app.config.EXPIRING_SOON_DAYS }), 20);

  const byStatus = new Map<string, number>();
  for (const row of summary)
    byStatus.set(String(row.status), (byStatus.get(String(row.status)) ?? 0) + Number(row.count));
  const total = [...byStatus.values()].reduce((a, b) => a + b, 0);
  const maxStatus = Math.max(1, ...byStatus.values());
  const maxRequests = Math.max(1, ...top.map((r) => Number(r.requests)));
  const charts = consumptionCharts(usage, labels);

  return page(
    ctx,
    { title: 'Overview', section: 'overview' },
    html`<h1>Overview</h1>
<p class="sub">As of ${when(now, timeZone)} (${timeZone}).</p>
<div class="cards">
  <div class="card"><div class="n">${total}</div><div class="l">subscriptions</div></div>
  ${STATUSES.map((s) => {
    const count = byStatus.get(s) ?? 0;
    return html`<div class="card"><div class="n">${count}</div><div class="l">${s}</div></div>`;
  })}
</div>
<section class="panel wide" aria-labelledby="usage-h">
  <h2 id="usage-h">Consumption per day, last ${CHART_DAYS} days</h2>
  ${
    charts.length > 0
      ? html`<div class="charts">${charts}</div><p class="legend">${CHARTS_LEGEND}</p>`
      : html`<p class="empty">Nothing was consumed in the last ${CHART_DAYS} days.</p>`
  }
</section>
<div class="grid">
  <section class="panel" aria-labelledby="status-h">
    <h2 id="status-h">Subscriptions by status</h2>
    <table>
      <thead><tr><th>Status</th><th class="num">Count</th><th></th></tr></thead>
      <tbody>${STATUSES.map((s) => {
        const count = byStatus.get(s) ?? 0;
        return html`<tr>
        <td>${badge(s)}</td>
        <td class="num">${count}</td>
        <td>${meter(count, maxStatus, { label: `${count} ${s}` })}</td>
      </tr>`;
      })}</tbody>
    </table>
    <h2 class="muted">Per package</h2>
    ${
      summary.length === 0
        ? html`<p class="empty">No subscriptions yet.</p>`
        : html`<table>
      <thead><tr><th>Package</th><th>Status</th><th class="num">Count</th></tr></thead>
      <tbody>${summary.map(
        (r) => html`<tr>
        <td>${packageLink(r)} <span class="muted">${r.package_code}</span></td>
        <td>${badge(String(r.status))}</td>
        <td class="num">${r.count}</td>
      </tr>`,
      )}</tbody>
    </table>`
    }
  </section>
  <section class="panel" aria-labelledby="top-h">
    <h2 id="top-h">Most requested packages, last ${CHART_DAYS} days</h2>
    ${
      top.length === 0
        ? html`<p class="empty">No subscriptions or renewals in the last ${CHART_DAYS} days.</p>`
        : html`<div class="scroll"><table>
      <thead><tr><th>#</th><th>Package</th><th>New + renewals</th><th class="num">Revenue</th></tr></thead>
      <tbody>${top.map((r) => {
        const bar = meter(Number(r.requests), maxRequests, { label: `${r.requests} requests` });
        const split = html`<div class="muted small">${r.new_subscriptions} new · ${r.renewals} renewed</div>`;
        return html`<tr>
        <td>${r.rank}</td>
        <td>${packageLink(r)}</td>
        <td><span class="meter-cell">${bar} ${r.requests}</span>${split}</td>
        <td class="num">${money(Number(r.revenue), String(r.currency))}</td>
      </tr>`;
      })}</tbody>
    </table></div>`
    }
  </section>
</div>
<section class="panel" aria-labelledby="nearly-h">
  <h2 id="nearly-h">Balances nearly consumed (${NEARLY_CONSUMED_PERCENT}% or more used)</h2>
  ${
    nearly.length === 0
      ? html`<p class="empty">No live balance is nearly consumed.</p>`
      : html`<div class="scroll"><table>
    <thead><tr>
      <th>Client</th><th>Package</th><th>Credit type</th>
      <th class="num">Left</th><th>Left of held</th><th>Next expiry</th>
    </tr></thead>
    <tbody>${nearly.map((r) => {
      const left = Number(r.remaining);
      const held = Number(r.held);
      const bar = meter(left, held, { tone: leftTone(left, held) });
      return html`<tr>
      <td>${clientLink(r.client_id, r)} <span class="muted">${r.client_ref}</span></td>
      <td>${r.package_code ?? html`<span class="muted">grant</span>`}</td>
      <td>${r.credit_type}</td>
      <td class="num">${r.remaining} / ${r.held} ${r.unit}</td>
      <td><span class="meter-cell">${bar} ${r.used_percent}% used</span></td>
      <td class="nowrap">${when(String(r.next_expiry), timeZone)}</td>
    </tr>`;
    })}</tbody>
  </table></div>`
  }
</section>
<section class="panel" aria-labelledby="expiring-h">
  <h2 id="expiring-h">Expiring in the next ${app.config.EXPIRING_SOON_DAYS} days</h2>
  ${
    expiring.length === 0
      ? html`<p class="empty">Nothing expires in the next ${app.config.EXPIRING_SOON_DAYS} days.</p>`
      : html`<div class="scroll"><table>
    <thead><tr>
      <th>When</th><th class="num">Days</th><th>What</th><th>Client</th><th>Package</th><th>Remains</th><th>Renews</th>
    </tr></thead>
    <tbody>${expiring.map((r) => {
      const what =
        r.row_type === 'subscription'
          ? 'subscription period'
          : html`${r.credit_type} balance <span class="muted">(${r.source})</span>`;
      return html`<tr>
      <td class="nowrap">${when(String(r.expires_at), timeZone)}</td>
      <td class="num">${r.days_left}</td>
      <td>${what}</td>
      <td>${clientLink(r.client_ref, r)} <span class="muted">${r.client_ref}</span></td>
      <td>${r.package_code ?? html`<span class="muted">grant</span>`}</td>
      <td>${r.row_type === 'balance' ? html`${r.remaining} ${r.unit}` : r.remains || '—'}</td>
      <td>${r.renews ? 'yes' : 'no'}</td>
    </tr>`;
    })}</tbody>
  </table></div>`
  }
</section>`,
  );
}
