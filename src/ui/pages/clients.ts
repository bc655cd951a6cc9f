import { randomUUID } from 'node:crypto';
import { DateTime } from 'luxon';
import { findClient, listClients } from '../../db/repositories/clients.js';
import { listHolds } from '../../db/repositories/holds.js';
import { listSubscriptions } from '../../db/repositories/subscriptions.js';
import { formatQuantity, parseQuantity } from '../../domain/quantity.js';
import { asOfArchived, clientBalances, clientBalancesAsOf, clientStatement } from '../../services/balances.js';
import { clientForecast, type ForecastView } from '../../services/forecast.js';
import { holdResults } from '../../services/holds.js';
import { subscriptionViews } from '../../services/subscriptions.js';
import { leftTone, meter } from '../charts.js';
import { type Html, html, name, path, query } from '../html.js';
import { badge, csrfField, notice, page, type UiContext, when } from '../layout.js';
import { adjustLink, clientCommerceLinks, subscriptionLink } from './commerce-parts.js';
import { money } from './overview.js';

const PAGE_SIZE = 50;
/** The statement on a client's page covers this many days back (older entries: the API). */
export const STATEMENT_DAYS = 30;

/** The forecast line of a client's page looks back this many days for the burn. */
export const FORECAST_WINDOW_DAYS = 30;

/** "Runs out around <date>, N units will expire unused" (DOMAIN.md "As of / forecast"). */
function forecastLine(f: ForecastView, decimals: number, unit: string): Html {
  let unused = 0n;
  for (const u of f.expiring_unused) {
    const units = parseQuantity(u.units, decimals);
    if (units.ok) unused += units.value;
  }
  const expiring =
    unused > 0n
      ? html`${formatQuantity(unused, decimals)} ${unit}(s) will expire unused`
      : 'nothing will expire unused';
  const runsOut =
    f.empty_on === null
      ? html`No use in the last ${f.window_days} days`
      : html`At ${f.burn_per_day} a day, runs out around <strong>${f.empty_on}</strong>`;
  return html`<p class="forecast" data-forecast="${f.credit_type.code}">${runsOut}, ${expiring}.</p>`;
}

/**
 * The instant a page's `as_of` day (YYYY-MM-DD in the business time zone) stands for: the end of that
 * day, or now if that is later than now. Undefined without a valid day.
 */
function asOfInstant(day: string | undefined, tz: string, now: Date): Date | undefined {
  if (!day || !/^\d{4}-\d{2}-\d{2}$/.test(day)) return undefined;
  const start = DateTime.fromISO(day, { zone: tz });
  if (!start.isValid) return undefined;
  const end = start.plus({ days: 1 }).toJSDate();
  const instant = new Date(end.getTime() - 1);
  return instant.getTime() < now.getTime() ? instant : undefined;
}

const str = (value: unknown): string | undefined =>
  typeof value === 'string' && value.length > 0 && value.length <= 500 ? value : undefined;

export async function clientsPage(ctx: UiContext): Promise<Html> {
  const search = str(ctx.req.query.search)?.trim().slice(0, 200);
  const cursor = str(ctx.req.query.cursor);
  const result = await listClients(ctx.app.db, { limit: PAGE_SIZE, cursor }, { search });
  const tz = ctx.app.config.BUSINESS_TZ;
  return page(
    ctx,
    { title: 'Clients', section: 'clients' },
    html`<h1>Clients</h1>
<p class="sub">Everyone who buys and consumes credits.</p>
<p><a class="button" href="/ui/clients/new" data-action="new-client">${ctx.t('setup.link.new_client')}</a></p>
<form class="search" method="get" action="/ui/clients" role="search">
  <input type="search" name="search" value="${search ?? ''}" placeholder="Name, external ref or e-mail" dir="auto"
    aria-label="Search clients">
  <button type="submit">Search</button>
</form>
<section class="panel">
  ${
    result.data.length === 0
      ? html`<p class="empty">No clients${search ? ' match' : ' yet'}.</p>`
      : html`<table>
    <thead><tr><th>Name</th><th>External ref</th><th>E-mail</th><th>Since</th></tr></thead>
    <tbody>${result.data.map(
      (c) => html`<tr>
      <td dir="auto"><a href="${path`/ui/clients/${c.id}`}">${name(c.name)}</a></td>
      <td><code>${c.external_ref}</code></td>
      <td>${c.email ?? '—'}</td>
      <td class="nowrap">${when(c.created_at, tz, false)}</td>
    </tr>`,
    )}</tbody>
  </table>`
  }
  ${
    result.nextCursor
      ? html`<p class="pager"><a href="/ui/clients${query({ search, cursor: result.nextCursor })}">Next page →</a></p>`
      : ''
  }
</section>`,
  );
}

export async function clientPage(ctx: UiContext, ref: string): Promise<Html | undefined> {
  const { app } = ctx;
  const db = app.db;
  const client = await findClient(db, ref);
  if (!client) return undefined;
  const now = app.clock.now();
  const tz = app.config.BUSINESS_TZ;
  const subscriptionRows = await listSubscriptions(db, { limit: 100 }, { clientId: client.id });
  const subscriptions = await subscriptionViews(db, subscriptionRows.data, { withBalances: true });
  const asOfDay = str(ctx.req.query.as_of);
  const wanted = asOfInstant(asOfDay, tz, now);
  // before the end of the archived months there is no ledger to replay: the live answer instead
  const asOf = wanted && !(await asOfArchived(db, wanted)) ? wanted : undefined;
  const balances = asOf ? await clientBalancesAsOf(db, client.id, asOf) : await clientBalances(db, client.id, now);
  const forecasts = new Map<string, Html>();
  if (!asOf) {
    for (const ct of balances) {
      const creditType = await app.refs.creditType(db, ct.credit_type.id);
      if (!creditType) continue;
      const f = await clientForecast(app, { clientId: client.id, creditType }, FORECAST_WINDOW_DAYS);
      forecasts.set(ct.credit_type.id, forecastLine(f, creditType.decimals, creditType.unit));
    }
  }
  const openHolds = await holdResults(
    app,
    (await listHolds(db, { limit: 100 }, { clientId: client.id, status: 'held' })).data,
  );
  const statementFrom = DateTime.fromJSDate(now, { zone: tz }).minus({ days: STATEMENT_DAYS }).toJSDate();
  const cursor = str(ctx.req.query.statement_cursor);
  const statement = await clientStatement(db, {
    clientId: client.id,
    from: statementFrom,
    cursor: cursor && /^\d{1,19}$/.test(cursor) ? cursor : undefined,
    limit: 50,
  });
  const t = (asOf ?? now).getTime();
  const email = client.email ? html` · ${client.email}` : '';
  const later = statement.next_cursor
    ? path`/ui/clients/${client.id}` + query({ statement_cursor: statement.next_cursor })
    : undefined;

  return page(
    ctx,
    { title: client.name, section: 'clients' },
    html`${notice(ctx.req)}
<h1 dir="auto">${name(client.name)}</h1>
<p class="sub"><code>${client.external_ref}</code>${email} · client since ${when(client.created_at, tz, false)}</p>
<p><a href="${path`/ui/clients/${client.id}/edit`}">${ctx.t('setup.link.edit_client')}</a></p>
${clientCommerceLinks(ctx, client.id)}

<section class="panel" aria-labelledby="subs-h">
  <h2 id="subs-h">Subscriptions</h2>
  ${
    subscriptions.length === 0
      ? html`<p class="empty">No subscriptions.</p>`
      : html`<div class="scroll"><table>
    <thead><tr>
      <th>Package</th><th>Status</th><th>Current period</th><th class="num">Renewals</th><th class="num">Price</th>
      <th>Auto-renew</th><th></th>
    </tr></thead>
    <tbody>${subscriptions.map((s) => {
      const renewable = s.status === 'active' || s.status === 'expired';
      const rechargeable = s.status === 'active';
      const pkg = html`<a href="${path`/ui/packages/${s.package.id}`}">${name(s.package.name)}</a>`;
      const renewDisabled = renewable && !s.cancel_at_period_end ? '' : html` disabled`;
      const rechargeDisabled = rechargeable ? '' : html` disabled`;
      const clock =
        s.status === 'frozen'
          ? html`<form class="inline" method="post"
            action="${path`/ui/subscriptions/${s.id}/unfreeze`}">${csrfField(ctx)}<button class="secondary"
            type="submit" data-action="unfreeze" data-subscription="${s.id}">Unfreeze</button></form>`
          : s.status === 'active'
            ? html`<form class="inline" method="post"
            action="${path`/ui/subscriptions/${s.id}/freeze`}">${csrfField(ctx)}<label class="muted small">days
            <input type="number" name="days" min="1" max="3660" step="1" inputmode="numeric" size="4"
            aria-label="Days to freeze (empty: as many as the package allows)"></label><button class="secondary"
            type="submit" data-action="freeze" data-subscription="${s.id}">Freeze</button></form>`
            : '';
      const frozenUntil = s.frozen_until ? html` <span class="muted">until ${when(s.frozen_until, tz)}</span>` : '';
      return html`<tr>
        <td>${pkg} <span class="muted">${s.package.code}</span></td>
        <td>${badge(s.status)}${frozenUntil}${
          s.cancel_at_period_end ? html` <span class="muted">ends at period end</span>` : ''
        }</td>
        <td class="nowrap">${when(s.current_period_start, tz, false)} → ${when(s.current_period_end, tz, false)}</td>
        <td class="num">${s.renewal_count}</td>
        <td class="num">${money(s.price, s.currency)}</td>
        <td>${s.auto_renew ? 'yes' : 'no'}</td>
        <td><div class="actions">
          ${subscriptionLink(ctx, s.id)}
          <form class="inline" method="post"
            action="${path`/ui/subscriptions/${s.id}/renew`}">${csrfField(ctx)}<button
            type="submit" data-action="renew" data-subscription="${s.id}"${renewDisabled}>Renew</button></form>
          <form class="inline" method="post"
            action="${path`/ui/subscriptions/${s.id}/recharge`}">${csrfField(ctx)}<input
            type="hidden" name="idem" value="${randomUUID()}"><button class="secondary" type="submit"
            data-action="recharge" data-subscription="${s.id}"${rechargeDisabled}>Recharge</button></form>
          ${clock}
        </div></td>
      </tr>`;
    })}</tbody>
  </table></div>`
  }
</section>

<section class="panel" aria-labelledby="bal-h">
  <h2 id="bal-h">Balances${asOf ? html` as of ${when(asOf, tz)}` : ''}</h2>
  <form class="search" method="get" action="${path`/ui/clients/${client.id}`}">
    <label>Balances as of <input type="date" name="as_of" value="${asOf ? asOfDay : ''}"
      max="${DateTime.fromJSDate(now, { zone: tz }).toISODate() ?? ''}"></label>
    <button type="submit">Show</button>
    ${asOf ? html`<a href="${path`/ui/clients/${client.id}`}">Now</a>` : ''}
  </form>
  ${
    balances.length === 0
      ? html`<p class="empty">No balances.</p>`
      : balances.map((ct) => {
          const live = ct.balances.filter((b) => b.status === 'active' && new Date(b.expires_at).getTime() > t);
          const unavailable =
            ct.unavailable !== '0' ? html` · unavailable ${ct.unavailable} (subscription not active)` : '';
          const upcoming = ct.upcoming !== '0' ? html` · upcoming ${ct.upcoming}` : '';
          const spent = html` · consumed ${ct.consumed} of ${ct.granted} granted · expired ${ct.expired}`;
          const voided = ct.voided !== '0' ? html` · voided ${ct.voided}` : '';
          const onHold = ct.held !== '0' ? html` · held ${ct.held} (open holds)` : '';
          const nextExpiry = ct.next_expiry ? html` · next expiry ${when(ct.next_expiry, tz)}` : '';
          return html`<h2 class="muted">${ct.credit_type.code} <span class="muted">(${ct.credit_type.unit})</span></h2>
    <p>Remaining <strong>${ct.remaining}</strong>${unavailable}${upcoming}${onHold}${spent}${voided}${nextExpiry}</p>
    ${forecasts.get(ct.credit_type.id) ?? ''}
    ${
      live.length === 0
        ? html`<p class="empty">No live balance.</p>`
        : html`<table>
      <thead><tr>
        <th>Source</th><th>Valid</th><th class="num">Remaining</th><th>Left</th><th class="num">Consumed</th>
        <th></th>
      </tr></thead>
      <tbody>${live.map((b) => {
        const held = Number(b.granted);
        const left = Number(b.remaining);
        const bar = meter(left, held, { tone: leftTone(left, held), label: `${b.remaining} of ${b.granted} left` });
        const percent = held > 0 ? Math.round((left / held) * 100) : 0;
        const availability = b.availability === 'usable' ? '' : html` <span class="muted">${b.availability}</span>`;
        return html`<tr>
        <td>${b.source}</td>
        <td class="nowrap">${when(b.valid_from, tz, false)} → ${when(b.expires_at, tz, false)}</td>
        <td class="num">${b.remaining} / ${b.granted}</td>
        <td><span class="meter-cell">${bar} ${percent}% left</span>${availability}</td>
        <td class="num">${b.consumed}</td>
        <td>${adjustLink(ctx, b.id)}</td>
      </tr>`;
      })}</tbody>
    </table>`
    }`;
        })
  }
</section>

<section class="panel" aria-labelledby="holds-h">
  <h2 id="holds-h">Open holds</h2>
  ${
    openHolds.length === 0
      ? html`<p class="empty">No open holds.</p>`
      : html`<div class="scroll"><table>
    <thead><tr>
      <th>Taken</th><th>Credit type</th><th class="num">Held</th><th>Expires</th><th>Reference</th><th>Key</th>
    </tr></thead>
    <tbody>${openHolds.map(
      (h) => html`<tr data-hold="${h.id}">
      <td class="nowrap">${when(h.created_at, tz)}</td>
      <td>${h.credit_type.code}</td>
      <td class="num">${h.held}</td>
      <td class="nowrap">${when(h.expires_at, tz)}</td>
      <td dir="auto">${h.reference ?? ''}</td>
      <td><code>${h.idempotency_key}</code></td>
    </tr>`,
    )}</tbody>
  </table></div>`
  }
</section>

<section class="panel" aria-labelledby="stmt-h">
  <h2 id="stmt-h">Statement, last ${STATEMENT_DAYS} days</h2>
  ${
    statement.data.length === 0
      ? html`<p class="empty">No ledger entries in the last ${STATEMENT_DAYS} days.</p>`
      : html`<div class="scroll"><table>
    <thead><tr>
      <th>Counts at</th><th>Kind</th><th>Credit type</th><th class="num">Amount</th><th class="num">Remaining after</th>
      <th>Reason</th>
    </tr></thead>
    <tbody>${statement.data.map(
      (e) => html`<tr>
      <td class="nowrap" title="${`recorded ${when(e.created_at, tz)}`}">${when(e.effective_at, tz)}</td>
      <td>${e.kind}</td>
      <td>${e.credit_type.code}</td>
      <td class="num">${e.amount}</td>
      <td class="num">${e.remaining_after}</td>
      <td dir="auto">${e.reason ?? ''}</td>
    </tr>`,
    )}</tbody>
  </table></div>`
  }
  ${later ? html`<p class="pager"><a href="${later}">Later entries →</a></p>` : ''}
</section>`,
  );
}
