import { DateTime } from 'luxon';
import { reportRows } from '../../db/reports/rows.js';
import { clientsNamed } from '../../db/repositories/clients.js';
import { archivedThrough } from '../../db/repositories/history.js';
import { type NightlyRunRow, recentNightlyRuns } from '../../db/repositories/nightly-runs.js';
import { packageIdsByCodes } from '../../db/repositories/packages.js';
import { formatQuantity, MAX_DECIMALS, parseQuantity } from '../../domain/quantity.js';
import { settleOwedAnywhere } from '../../jobs/swept-reads.js';
import { nearlyConsumedQuery } from '../../reports/balances.js';
import { consumptionQuery } from '../../reports/consumption.js';
import { expiringQuery } from '../../reports/expiring.js';
import { subscriptionsQuery } from '../../reports/subscriptions.js';
import { topPackagesQuery } from '../../reports/top-packages.js';
import type { ReportRow } from '../../reports/types.js';
import { barChart, type ChartLocale, leftTone, meter, type Point } from '../charts.js';
import { code, type Html, html, name, path } from '../html.js';
import { badge, page, type UiContext } from '../layout.js';
import { sourceWord } from '../words.js';

export const CHART_DAYS = 30;
/** "Nearly consumed": at least this much of what a subscription holds now is used up. */
export const NEARLY_CONSUMED_PERCENT = 80;
const STATUSES = ['active', 'pending', 'suspended', 'frozen', 'expired', 'cancelled'] as const;

/** The days of the chart, oldest first, as business-zone dates (`YYYY-MM-DD`). */
export function chartDays(now: Date, timeZone: string, days = CHART_DAYS): { from: Date; labels: string[] } {
  const today = DateTime.fromJSDate(now, { zone: timeZone }).startOf('day');
  const first = today.minus({ days: days - 1 });
  const labels = Array.from({ length: days }, (_, i) => first.plus({ days: i }).toISODate() ?? '');
  return { from: first.toJSDate(), labels };
}

/** A chart's point for one day: its axis label and tooltip in the page's language. */
export const dayPoint = (where: ChartLocale, day: string, value: number, display: string): Point => ({
  label: where.fmt.shortDay(day),
  title: where.fmt.plainDay(day),
  value,
  display,
});

/**
 * The chart's days whose history is archived (`archive-month`): a day that starts before the live history does.
 * Their ledger entries are detached, so the consumption query finds nothing there; drawn as 0 they would read
 * "nothing consumed" where the answer is "no longer kept here".
 */
export function archivedDays(labels: readonly string[], timeZone: string, liveSince: Date | null): Set<string> {
  if (liveSince === null) return new Set();
  return new Set(labels.filter((day) => DateTime.fromISO(day, { zone: timeZone }).toMillis() < liveSince.getTime()));
}

/** One chart per credit type: the consumption report's net units per day, missing days as 0, archived ones marked. */
export function consumptionCharts(
  where: ChartLocale,
  rows: readonly ReportRow[],
  labels: readonly string[],
  archived: ReadonlySet<string> = new Set(),
): Html[] {
  const byType = new Map<string, { unit: string; values: Map<string, string> }>();
  for (const row of rows) {
    const code = String(row.credit_type);
    const entry = byType.get(code) ?? { unit: String(row.unit), values: new Map<string, string>() };
    entry.values.set(String(row.period_start), String(row.net));
    byType.set(code, entry);
  }
  return [...byType].map(([code, entry]) => {
    const points: Point[] = labels.map((day) => {
      if (archived.has(day)) return { ...dayPoint(where, day, 0, ''), archived: true };
      const net = entry.values.get(day) ?? '0';
      return dayPoint(where, day, Number(net), where.fmt.number(net));
    });
    // summed exactly, in the smallest step a credit type has (6 decimals): no float on the way
    let total = 0n;
    for (const net of entry.values.values()) {
      const scaled = parseQuantity(net, MAX_DECIMALS, { allowNegative: true, allowZero: true });
      if (scaled.ok) total += scaled.value;
    }
    const sum = where.fmt.number(formatQuantity(total, MAX_DECIMALS));
    return barChart(where, { title: code, unit: entry.unit, points, total: sum });
  });
}

/** `ids`: the packages' ids by code; a code may be a word of the pages' own paths (/ui/packages/new). */
const packageLink = (r: ReportRow, ids: ReadonlyMap<string, string>): Html =>
  html`<a href="${path`/ui/packages/${ids.get(String(r.package_code)) ?? String(r.package_code)}`}">${name(
    String(r.package_name),
  )}</a>`;

/** `key`: the client's id or external ref, either names it in /ui/clients/…. */
const clientLink = (key: unknown, r: ReportRow): Html =>
  html`<a href="${path`/ui/clients/${String(key)}`}">${name(String(r.client_name))}</a>`;

/** A time zone's name (Asia/Riyadh): as it is, left to right. */
export const zoneName = (zone: string): Html => html`<bdi dir="ltr">${zone}</bdi>`;

/** A subscription row of the expiring report lists what it holds as `code: quantity; …`: each part shown apart. */
function remainsOf(ctx: UiContext, remains: unknown): Html {
  const parts = String(remains ?? '')
    .split('; ')
    .filter((part) => part !== '')
    .map((part) => {
      const at = part.lastIndexOf(': ');
      return at < 0 ? html`<bdi>${part}</bdi>` : html`${code(part.slice(0, at))} ${ctx.fmt.number(part.slice(at + 2))}`;
    });
  return parts.length === 0 ? ctx.t('word.none') : ctx.fmt.list(parts);
}

/** Did last night run, and did the store hold its invariants then: the latest nightly run, in one line. */
function nightlyLine(ctx: UiContext, run: NightlyRunRow | undefined): Html {
  const { t, fmt } = ctx;
  if (!run) return html`<p class="legend" data-nightly="none">${t('overview.nightly_none')}</p>`;
  const time = fmt.dateTime(run.as_of);
  if (!run.finished_at)
    return html`<p class="legend" data-nightly="unfinished">${t('overview.nightly_unfinished', { time })}</p>`;
  const verify = (run.report as { verify?: { violationCount?: number } } | null)?.verify;
  if (verify?.violationCount === undefined)
    return html`<p class="legend" data-nightly="no-verify">${t('overview.nightly_no_verify', { time })}</p>`;
  const count = verify.violationCount;
  return count === 0
    ? html`<p class="legend" data-nightly="ok">${t('overview.nightly_ok', { time })}</p>`
    : html`<p class="notice error" data-nightly="violations">${t('overview.nightly_violations', {
        time,
        count,
        number: fmt.number(count),
        call: code('POST /v1/admin/verify'),
      })}</p>`;
}

export async function overviewPage(ctx: UiContext): Promise<Html> {
  const { app, t, fmt } = ctx;
  // live counts of every client (a freeze past its frozen_until still `frozen` in the table, units of a hold past its
  // expires_at still held): what the sweep owes anyone is done first, on the primary, as GET /v1/subscriptions does
  await settleOwedAnywhere(app);
  // the display windows read like reports: from the replica when there is one (REPORTS_DATABASE_URL)
  const db = app.reportsDb;
  const now = app.clock.now();
  const timeZone = app.config.BUSINESS_TZ;
  const { from, labels } = chartDays(now, timeZone);
  const rangeFrom = DateTime.fromJSDate(now, { zone: timeZone }).minus({ days: CHART_DAYS }).toJSDate();
  const soonDays = app.config.EXPIRING_SOON_DAYS;

  // one after another: a page is one request, the pool serves the API too
  const summary = await reportRows(db, subscriptionsQuery({ asOf: now, summaryOnly: true, live: true }));
  const usage = await reportRows(db, consumptionQuery({ from, to: now, groupBy: 'day', timeZone }));
  const archived = archivedDays(labels, timeZone, await archivedThrough(db));
  const top = await reportRows(db, topPackagesQuery({ from: rangeFrom, to: now }), 10);
  const nearly = await reportRows(db, nearlyConsumedQuery({ asOf: now, minPercent: NEARLY_CONSUMED_PERCENT }), 15);
  const expiring = await reportRows(db, expiringQuery({ asOf: now, daysAhead: soonDays, live: true }), 20);
  const [lastNight] = await recentNightlyRuns(db, { limit: 1 });
  // the expiring rows name their client by its external_ref, which may be a word of the pages' own paths
  // (/ui/clients/new): linked by its id
  const expiringRefs = [...new Set(expiring.map((r) => String(r.client_ref)))];
  const clientIds = new Map((await clientsNamed(db, expiringRefs)).map((c) => [c.external_ref, c.id]));
  const packageIds = await packageIdsByCodes(
    db,
    [...summary, ...top].map((r) => String(r.package_code)),
  );

  const byStatus = new Map<string, number>();
  for (const row of summary)
    byStatus.set(String(row.status), (byStatus.get(String(row.status)) ?? 0) + Number(row.count));
  const total = [...byStatus.values()].reduce((a, b) => a + b, 0);
  const maxStatus = Math.max(1, ...byStatus.values());
  const maxRequests = Math.max(1, ...top.map((r) => Number(r.requests)));
  const days = { last: t('word.last_days', { count: CHART_DAYS, days: fmt.number(CHART_DAYS) }) };
  const charts = consumptionCharts(ctx, usage, labels, archived);
  const firstLive = labels.find((day) => !archived.has(day));
  const archivedNote =
    archived.size === 0
      ? html``
      : html`<p class="legend" data-archived="${String(archived.size)}">${
          firstLive === undefined
            ? t('overview.archived_all', days)
            : t('overview.archived_before', { day: fmt.plainDay(firstLive) })
        }</p>`;
  const soon = { next: t('word.next_days', { count: soonDays, days: fmt.number(soonDays) }) };
  const grant = html`<span class="muted">${t('word.grant')}</span>`;

  return page(
    ctx,
    { title: t('overview.title'), section: 'overview' },
    html`<h1>${t('overview.title')}</h1>
<p class="sub">${t('overview.as_of', { time: fmt.dateTime(now), zone: zoneName(timeZone) })}</p>
${nightlyLine(ctx, lastNight)}
<div class="cards">
  <div class="card"><div class="n">${fmt.number(total)}</div><div class="l">${t('overview.card_total', {
    count: total,
  })}</div></div>
  ${STATUSES.map((s) => {
    const count = byStatus.get(s) ?? 0;
    return html`<div class="card" data-status="${s}"><div class="n">${fmt.number(count)}</div><div class="l">${t(
      `status.${s}`,
    )}</div></div>`;
  })}
</div>
<section class="panel wide" aria-labelledby="usage-h">
  <h2 id="usage-h">${t('overview.usage_h', days)}</h2>
  ${
    charts.length > 0
      ? html`<div class="charts">${charts}</div><p class="legend">${t('overview.charts_legend')}</p>`
      : archived.size === labels.length
        ? html``
        : html`<p class="empty">${t('overview.no_usage', days)}</p>`
  }
  ${archivedNote}
</section>
<div class="grid">
  <section class="panel" aria-labelledby="status-h">
    <h2 id="status-h">${t('overview.status_h')}</h2>
    <div class="scroll"><table>
      <thead><tr><th>${t('col.status')}</th><th class="num">${t('col.count')}</th><th><span class="visually-hidden">${t(
        'col.share',
      )}</span></th></tr></thead>
      <tbody>${STATUSES.map((s) => {
        const count = byStatus.get(s) ?? 0;
        const label = t('overview.status_meter', { count, number: fmt.number(count), status: t(`status.${s}`) });
        return html`<tr>
        <td>${badge(ctx, s)}</td>
        <td class="num">${fmt.number(count)}</td>
        <td>${meter(count, maxStatus, { label })}</td>
      </tr>`;
      })}</tbody>
    </table></div>
    <h2 class="muted">${t('overview.per_package')}</h2>
    ${
      summary.length === 0
        ? html`<p class="empty">${t('overview.no_subscriptions')}</p>`
        : html`<div class="scroll"><table>
      <thead><tr><th>${t('col.package')}</th><th>${t('col.status')}</th><th class="num">${t(
        'col.count',
      )}</th></tr></thead>
      <tbody>${summary.map(
        (r) => html`<tr>
        <td>${packageLink(r, packageIds)} ${code(r.package_code, true)}</td>
        <td>${badge(ctx, String(r.status))}</td>
        <td class="num">${fmt.number(Number(r.count))}</td>
      </tr>`,
      )}</tbody>
    </table></div>`
    }
  </section>
  <section class="panel" aria-labelledby="top-h">
    <h2 id="top-h">${t('overview.top_h', days)}</h2>
    ${
      top.length === 0
        ? html`<p class="empty">${t('overview.no_top', days)}</p>`
        : html`<div class="scroll"><table>
      <thead><tr><th>${t('col.rank')}</th><th>${t('col.package')}</th><th>${t('overview.col_requests')}</th>
        <th class="num">${t('col.revenue')}</th></tr></thead>
      <tbody>${top.map((r) => {
        const requests = Number(r.requests);
        const label = t('overview.requests', { count: requests, number: fmt.number(requests) });
        const bar = meter(requests, maxRequests, { label });
        const split = html`<div class="muted small">${t('overview.requests_split', {
          new: fmt.number(Number(r.new_subscriptions)),
          renewed: fmt.number(Number(r.renewals)),
        })}</div>`;
        return html`<tr>
        <td>${fmt.number(Number(r.rank))}</td>
        <td>${packageLink(r, packageIds)}</td>
        <td><span class="meter-cell">${bar} ${fmt.number(requests)}</span>${split}</td>
        <td class="num">${fmt.money(Number(r.revenue), String(r.currency))}</td>
      </tr>`;
      })}</tbody>
    </table></div>`
    }
  </section>
</div>
<section class="panel" aria-labelledby="nearly-h">
  <h2 id="nearly-h">${t('overview.nearly_h', { percent: fmt.percent(NEARLY_CONSUMED_PERCENT) })}</h2>
  ${
    nearly.length === 0
      ? html`<p class="empty">${t('overview.no_nearly')}</p>`
      : html`<div class="scroll"><table>
    <thead><tr>
      <th>${t('col.client')}</th><th>${t('col.package')}</th><th>${t('col.credit_type')}</th>
      <th class="num">${t('overview.col_left')}</th><th>${t('overview.col_left_of_held')}</th>
      <th>${t('col.next_expiry')}</th>
    </tr></thead>
    <tbody>${nearly.map((r) => {
      const left = Number(r.remaining);
      const held = Number(r.held);
      const used = t('overview.used', { percent: fmt.percent(Number(r.used_percent)) });
      const bar = meter(left, held, { tone: leftTone(left, held), label: used });
      return html`<tr>
      <td>${clientLink(r.client_id, r)} ${code(r.client_ref, true)}</td>
      <td>${r.package_code ? code(r.package_code) : grant}</td>
      <td>${code(r.credit_type)}</td>
      <td class="num">${t('word.of_total', {
        part: fmt.number(String(r.remaining)),
        whole: fmt.number(String(r.held)),
      })} <bdi>${r.unit}</bdi></td>
      <td><span class="meter-cell">${bar} ${used}</span></td>
      <td class="nowrap">${fmt.dateTime(r.next_expiry ? String(r.next_expiry) : null)}</td>
    </tr>`;
    })}</tbody>
  </table></div>`
  }
</section>
<section class="panel" aria-labelledby="expiring-h">
  <h2 id="expiring-h">${t('overview.expiring_h', soon)}</h2>
  ${
    expiring.length === 0
      ? html`<p class="empty">${t('overview.no_expiring', soon)}</p>`
      : html`<div class="scroll"><table>
    <thead><tr>
      <th>${t('col.when')}</th><th class="num">${t('overview.col_days')}</th><th>${t('overview.col_what')}</th>
      <th>${t('col.client')}</th><th>${t('col.package')}</th><th>${t('overview.col_remains')}</th>
      <th>${t('overview.col_renews')}</th>
    </tr></thead>
    <tbody>${expiring.map((r) => {
      const what =
        r.row_type === 'subscription'
          ? t('overview.what_period')
          : t('overview.what_balance', { credit_type: code(r.credit_type), source: sourceWord(ctx, r.source) });
      return html`<tr>
      <td class="nowrap">${fmt.dateTime(String(r.expires_at))}</td>
      <td class="num">${fmt.number(Number(r.days_left))}</td>
      <td>${what}</td>
      <td>${clientLink(clientIds.get(String(r.client_ref)) ?? r.client_ref, r)} ${code(r.client_ref, true)}</td>
      <td>${r.package_code ? code(r.package_code) : grant}</td>
      <td>${
        r.row_type === 'balance'
          ? html`${fmt.number(String(r.remaining))} <bdi>${r.unit}</bdi>`
          : remainsOf(ctx, r.remains)
      }</td>
      <td>${t(r.renews ? 'word.yes' : 'word.no')}</td>
    </tr>`;
    })}</tbody>
  </table></div>`
  }
</section>`,
  );
}
