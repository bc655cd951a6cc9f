import { DateTime } from 'luxon';
import { findClient, listClients } from '../../db/repositories/clients.js';
import { listHolds } from '../../db/repositories/holds.js';
import { listSubscriptions } from '../../db/repositories/subscriptions.js';
import type { Availability } from '../../domain/availability.js';
import { LEDGER_KINDS, type LedgerKind } from '../../domain/ledger-entry.js';
import { formatQuantity, MAX_DECIMALS, parseQuantity } from '../../domain/quantity.js';
import { DomainError } from '../../domain/result.js';
import { EXPIRED_ON_RETURN } from '../../domain/reverse.js';
import { settleOwedOf } from '../../jobs/swept-reads.js';
import { percent as exactPercent } from '../../reports/values.js';
import { asOfArchived, clientBalances, clientBalancesAsOf, clientStatement } from '../../services/balances.js';
import { clientForecast, type ForecastView } from '../../services/forecast.js';
import { UNDONE_BY_FREEZE } from '../../services/freeze.js';
import { holdResults } from '../../services/holds.js';
import { RECHARGE_REASON as RECHARGE_UNDONE, REASON as UNDONE_BY_CANCEL } from '../../services/renewal-undo.js';
import { CANCELLED_REASON, subscriptionViews } from '../../services/subscriptions.js';
import { leftTone, meter } from '../charts.js';
import { dayStart } from '../date-inputs.js';
import { type FieldErrors, fieldError, idemField, invalidAttributes, queryText } from '../form.js';
import { code, type Html, html, name, path, query } from '../html.js';
import { badge, csrfField, nextLink, notice, noticeOf, page, type UiContext } from '../layout.js';
import { sourceWord } from '../words.js';
import { adjustLink, clientCommerceLinks, refusalBlock, subscriptionLink } from './commerce-parts.js';
import { type HoldRefusal, holdForms } from './holds.js';

const PAGE_SIZE = 50;
/** The statement on a client's page covers this many days back (older entries: the API). */
export const STATEMENT_DAYS = 30;

/** The forecast line of a client's page looks back this many days for the burn. */
export const FORECAST_WINDOW_DAYS = 30;

/**
 * A daily burn for a person: two decimals more than the credit type's, rounded half up. The API answers six more
 * (`burn_per_day`, never negative), which a sentence does not need ("4.333333 message a day").
 */
export function shownRate(text: string, decimals: number): string {
  const places = decimals + 2;
  const [whole = '0', fraction = ''] = text.split('.');
  if (fraction.length <= places) return text;
  return formatQuantity(BigInt(whole + fraction.slice(0, places)) + (Number(fraction[places]) >= 5 ? 1n : 0n), places);
}

/**
 * What is left of a balance in percent, as the reports count a share (one decimal, half up, exact): 13 of 1,000 is
 * "1.3%", the figure beside the overview's "98.7% used" of the same balance, not a whole "1%".
 */
export function shareLeft(remaining: string, granted: string): number {
  const scaled = (text: string) => {
    const parsed = parseQuantity(text, MAX_DECIMALS, { allowZero: true, allowNegative: true });
    return parsed.ok ? parsed.value : 0n;
  };
  return exactPercent(scaled(remaining), scaled(granted)) ?? 0;
}

/** "At 12 a day, runs out around <day>, N units will expire unused" (DOMAIN.md "As of / forecast"). */
function forecastLine(ctx: UiContext, f: ForecastView, decimals: number, unit: string): Html {
  const { t, fmt } = ctx;
  let unused = 0n;
  for (const u of f.expiring_unused) {
    const units = parseQuantity(u.units, decimals);
    if (units.ok) unused += units.value;
  }
  const expiring =
    unused > 0n
      ? t('clients.forecast_unused', { units: fmt.number(formatQuantity(unused, decimals)), unit: name(unit) })
      : t('clients.forecast_none_unused');
  const runsOut =
    f.empty_on === null
      ? t('clients.forecast_no_use', {
          last: t('word.last_days', { count: f.window_days, days: fmt.number(f.window_days) }),
        })
      : t('clients.forecast_runs_out', {
          burn: fmt.number(shownRate(f.burn_per_day, decimals)),
          day: html`<strong>${fmt.day(f.empty_on)}</strong>`,
        });
  return html`<p class="forecast" data-forecast="${f.credit_type.code}">${t('clients.forecast', {
    runs_out: runsOut,
    unused: expiring,
  })}</p>`;
}

/**
 * The instant a page's `as_of` day (YYYY-MM-DD in the business time zone) stands for: the end of that
 * day, or now if that is later than now. Undefined without a valid day.
 */
function asOfInstant(day: string | undefined, tz: string, now: Date): Date | undefined {
  const end = day === undefined ? undefined : dayStart(day, tz, 1);
  if (!end) return undefined;
  const instant = new Date(end.getTime() - 1);
  return instant.getTime() < now.getTime() ? instant : undefined;
}

/** An e-mail address: left to right, isolated from the sentence around it. */
const email = (value: string | null | undefined): Html =>
  value ? html`<bdi dir="ltr" class="email">${value}</bdi>` : html`—`;

export async function clientsPage(ctx: UiContext): Promise<Html> {
  const { t, fmt } = ctx;
  const search = queryText(ctx.req.query.search)?.slice(0, 200);
  const cursor = queryText(ctx.req.query.cursor);
  const result = await listClients(ctx.app.db, { limit: PAGE_SIZE, cursor }, { search });
  return page(
    ctx,
    { title: t('clients.title'), section: 'clients' },
    html`<h1>${t('clients.title')}</h1>
<p class="sub">${t('clients.lead')}</p>
<p><a class="button" href="/ui/clients/new" data-action="new-client">${ctx.t('setup.link.new_client')}</a></p>
<form class="search" method="get" action="/ui/clients" role="search">
  <input type="search" name="search" value="${search ?? ''}" placeholder="${t('clients.search_placeholder')}"
    dir="auto" aria-label="${t('clients.search_label')}">
  <button type="submit">${t('word.search')}</button>
</form>
<section class="panel">
  ${
    result.data.length === 0
      ? html`<p class="empty">${t(search ? 'clients.none_match' : 'clients.none_yet')}</p>`
      : html`<div class="scroll"><table>
    <thead><tr><th>${t('col.name')}</th><th>${t('col.external_ref')}</th><th>${t('col.email')}</th>
      <th>${t('clients.col_since')}</th></tr></thead>
    <tbody>${result.data.map(
      (c) => html`<tr>
      <td><a href="${path`/ui/clients/${c.id}`}">${name(c.name)}</a></td>
      <td>${code(c.external_ref)}</td>
      <td>${email(c.email)}</td>
      <td class="nowrap">${fmt.date(c.created_at)}</td>
    </tr>`,
    )}</tbody>
  </table></div>`
  }
  ${result.nextCursor ? nextLink(ctx, `/ui/clients${query({ search, cursor: result.nextCursor })}`) : ''}
</section>`,
  );
}

/** An availability other than usable (upcoming, unavailable, expired, void), in the page's language. */
const availabilityOf = (ctx: UiContext, value: string): Html =>
  value === 'usable' ? html`` : html` <span class="muted">${ctx.t(`availability.${value as Availability}`)}</span>`;

/** A ledger entry's kind in the page's language; an unknown one as it is. */
const ledgerKind = (ctx: UiContext, kind: string): Html =>
  (LEDGER_KINDS as readonly string[]).includes(kind)
    ? ctx.t(`ledger.${kind as LedgerKind}`)
    : html`<code dir="ltr">${kind}</code>`;

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
/** A reason the service writes word for word. */
const exactly = (text: string): RegExp => new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
const ISO = '\\d{4}-\\d{2}-\\d{2}T[\\d:.]+Z';
/**
 * The reasons the service itself writes on ledger entries (src/domain/hold.ts, jobs/expire.ts, services/freeze.ts,
 * services/renewal-undo.ts, services/subscriptions.ts).
 */
const SYSTEM_REASONS: Array<[RegExp, (ctx: UiContext, m: RegExpExecArray) => Html]> = [
  [new RegExp(`^hold (${UUID})$`), (ctx, m) => ctx.t('clients.reason_hold', { id: code(m[1]) })],
  [new RegExp(`^rolled over to balance (${UUID})$`), (ctx, m) => ctx.t('clients.reason_rolled_to', { id: code(m[1]) })],
  [
    new RegExp(`^rolled over from balances? (${UUID}(?:, ${UUID})*)$`),
    (ctx, m) =>
      ctx.t('clients.reason_rolled_from', { ids: ctx.fmt.list((m[1] ?? '').split(', ').map((id) => code(id))) }),
  ],
  [exactly(CANCELLED_REASON), (ctx) => ctx.t('clients.reason_cancelled')],
  [exactly(UNDONE_BY_FREEZE), (ctx) => ctx.t('clients.reason_undone_by_freeze')],
  [exactly(EXPIRED_ON_RETURN), (ctx) => ctx.t('clients.reason_expired_on_return')],
  [exactly(UNDONE_BY_CANCEL), (ctx) => ctx.t('clients.reason_undone_by_cancel')],
  [exactly(RECHARGE_UNDONE), (ctx) => ctx.t('clients.reason_recharge_undone')],
  [
    new RegExp(`^unfrozen \\(frozen from (${ISO}) to (${ISO})\\)$`),
    (ctx, m) => ctx.t('clients.reason_unfrozen', { from: ctx.fmt.dateTime(m[1]), to: ctx.fmt.dateTime(m[2]) }),
  ],
];

/** A ledger entry's reason: the service's own in the page's language, an operator's as it was written. */
function ledgerReason(ctx: UiContext, reason: string | null): Html {
  if (!reason) return html``;
  for (const [pattern, render] of SYSTEM_REASONS) {
    const m = pattern.exec(reason);
    if (m) return render(ctx, m);
  }
  return name(reason);
}

/** A freeze the route refused for its days: the days as typed, kept in that subscription's form, and why. */
export interface FreezeRefusal {
  subscriptionId: string;
  days: string;
  errors: FieldErrors;
}

/** What a client page shows again after a form of it was refused: a freeze's days, or a hold's capture or release. */
export interface ClientPageRefusals {
  freeze?: FreezeRefusal;
  hold?: HoldRefusal;
}

export async function clientPage(
  ctx: UiContext,
  ref: string,
  refused: ClientPageRefusals = {},
): Promise<Html | undefined> {
  const { app, t, fmt } = ctx;
  const { freeze, hold } = refused;
  const db = app.db;
  const client = await findClient(db, ref);
  if (!client) return undefined;
  // as the sweep leaves the client (its subscriptions, open holds, statement and forecast are live whatever the
  // balances' as_of): a hold past its expires_at, a freeze past its frozen_until, closed first
  await settleOwedOf(app, [client.id]);
  const now = app.clock.now();
  const tz = app.config.BUSINESS_TZ;
  // a hundred a page, the oldest first as the API lists them; the rest (the latest sales) behind a link
  const subscriptionsCursor = queryText(ctx.req.query.subscriptions_cursor);
  const subscriptionRows = await listSubscriptions(
    db,
    { limit: 100, cursor: subscriptionsCursor },
    { clientId: client.id },
  ).catch((error) => {
    // a cursor this page did not give out: the first page instead
    if (!(error instanceof DomainError)) throw error;
    return listSubscriptions(db, { limit: 100 }, { clientId: client.id });
  });
  const moreSubscriptions = subscriptionRows.nextCursor
    ? path`/ui/clients/${client.id}` + query({ subscriptions_cursor: subscriptionRows.nextCursor })
    : undefined;
  const subscriptions = await subscriptionViews(db, subscriptionRows.data, { withBalances: true });
  const asOfDay = queryText(ctx.req.query.as_of);
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
      forecasts.set(ct.credit_type.id, forecastLine(ctx, f, creditType.decimals, creditType.unit));
    }
  }
  // a hundred open holds a page, the rest behind a link (a busy client holds more at once)
  const holdsFilter = { clientId: client.id, status: 'held' } as const;
  const holdsCursor = queryText(ctx.req.query.holds_cursor);
  const holdsPage = await listHolds(db, { limit: 100, cursor: holdsCursor }, holdsFilter).catch((error) => {
    // a cursor this page did not give out: the first page instead
    if (!(error instanceof DomainError)) throw error;
    return listHolds(db, { limit: 100 }, holdsFilter);
  });
  const openHolds = await holdResults(app, holdsPage.data);
  const moreHolds = holdsPage.nextCursor
    ? path`/ui/clients/${client.id}` + query({ holds_cursor: holdsPage.nextCursor })
    : undefined;
  const statementFrom = DateTime.fromJSDate(now, { zone: tz }).minus({ days: STATEMENT_DAYS }).toJSDate();
  const cursor = queryText(ctx.req.query.statement_cursor);
  const statement = await clientStatement(db, {
    clientId: client.id,
    from: statementFrom,
    cursor: cursor && /^\d{1,19}$/.test(cursor) ? cursor : undefined,
    limit: 50,
  });
  const mail = client.email ? html` · ${email(client.email)}` : '';
  const later = statement.next_cursor
    ? path`/ui/clients/${client.id}` + query({ statement_cursor: statement.next_cursor })
    : undefined;
  const statementDays = { last: t('word.last_days', { count: STATEMENT_DAYS, days: fmt.number(STATEMENT_DAYS) }) };
  const range = (from: Html, to: Html) => t('word.range', { from, to });
  // a refused capture's quantity is told beside its field while the hold is still open, else in the block
  const top = hold
    ? refusalBlock(ctx, hold.refusal, openHolds.some((h) => h.id === hold.holdId) ? ['quantity'] : [])
    : freeze
      ? noticeOf(ctx, 'freeze_failed')
      : notice(ctx);

  return page(
    ctx,
    { title: client.name, section: 'clients' },
    html`${top}
<h1>${name(client.name)}</h1>
<p class="sub">${code(client.external_ref)}${mail} · ${t('clients.since', { date: fmt.date(client.created_at) })}</p>
<p><a href="${path`/ui/clients/${client.id}/edit`}">${ctx.t('setup.link.edit_client')}</a></p>
${clientCommerceLinks(ctx, client.id)}

<section class="panel" aria-labelledby="subs-h">
  <h2 id="subs-h">${t('clients.subscriptions_h')}</h2>
  ${
    subscriptions.length === 0
      ? html`<p class="empty">${t('clients.no_subscriptions')}</p>`
      : html`<div class="scroll"><table>
    <thead><tr>
      <th>${t('col.package')}</th><th>${t('col.status')}</th><th>${t('col.current_period')}</th>
      <th class="num">${t('clients.col_renewals')}</th><th class="num">${t('col.price')}</th>
      <th>${t('col.auto_renew')}</th><th><span class="visually-hidden">${t('col.actions')}</span></th>
    </tr></thead>
    <tbody>${subscriptions.map((s) => {
      const refused = freeze?.subscriptionId === s.id ? freeze : undefined;
      const renewable = s.status === 'active' || s.status === 'expired';
      const rechargeable = s.status === 'active';
      const pkg = html`<a href="${path`/ui/packages/${s.package.id}`}">${name(s.package.name)}</a>`;
      const renewDisabled = renewable && !s.cancel_at_period_end ? '' : html` disabled`;
      const rechargeDisabled = rechargeable ? '' : html` disabled`;
      const clock =
        s.status === 'frozen'
          ? html`<form class="inline" method="post"
            action="${path`/ui/subscriptions/${s.id}/unfreeze`}">${csrfField(ctx)}${idemField()}<button
            class="secondary" type="submit"
            data-action="unfreeze" data-subscription="${s.id}">${t('clients.unfreeze')}</button></form>`
          : s.status === 'active'
            ? html`<form class="inline freeze" method="post"
            action="${path`/ui/subscriptions/${s.id}/freeze`}">${csrfField(ctx)}${idemField()}<label
            class="muted small">${t('clients.freeze_days')}
            <input type="text" name="days" inputmode="numeric" size="4" dir="ltr"
            value="${refused ? refused.days : ''}"${refused ? invalidAttributes(refused.errors, 'days') : ''}
            title="${t('clients.freeze_days_hint')}"></label><button class="secondary"
            type="submit" data-action="freeze" data-subscription="${s.id}">${t('clients.freeze')}</button>${
              refused ? fieldError(ctx, refused.errors, 'days') : ''
            }</form>`
            : '';
      const frozenUntil = s.frozen_until
        ? html` <span class="muted">${t('clients.frozen_until', { time: fmt.dateTime(s.frozen_until) })}</span>`
        : '';
      return html`<tr>
        <td>${pkg} ${code(s.package.code, true)}</td>
        <td>${badge(ctx, s.status)}${frozenUntil}${
          s.cancel_at_period_end ? html` <span class="muted">${t('clients.ends_at_period_end')}</span>` : ''
        }</td>
        <td class="period">${range(fmt.date(s.current_period_start), fmt.date(s.current_period_end))}</td>
        <td class="num">${fmt.number(s.renewal_count)}</td>
        <td class="num">${fmt.money(s.price, s.currency)}</td>
        <td>${t(s.auto_renew ? 'word.yes' : 'word.no')}</td>
        <td><div class="actions">
          ${subscriptionLink(ctx, s.id)}
          <form class="inline" method="post"
            action="${path`/ui/subscriptions/${s.id}/renew`}">${csrfField(ctx)}${idemField()}<button
            type="submit" data-action="renew" data-subscription="${s.id}"${renewDisabled}>${t(
              'clients.renew',
            )}</button></form>
          <form class="inline" method="post"
            action="${path`/ui/subscriptions/${s.id}/recharge`}">${csrfField(ctx)}${idemField()}<button
            class="secondary" type="submit"
            data-action="recharge" data-subscription="${s.id}"${rechargeDisabled}>${t(
              'clients.recharge',
            )}</button></form>
          ${clock}
        </div></td>
      </tr>`;
    })}</tbody>
  </table></div>`
  }
  ${moreSubscriptions ? nextLink(ctx, moreSubscriptions, 'clients.more_subscriptions') : ''}
</section>

<section class="panel" aria-labelledby="bal-h">
  <h2 id="bal-h">${asOf ? t('clients.balances_as_of_h', { time: fmt.dateTime(asOf) }) : t('clients.balances_h')}</h2>
  <form class="search" method="get" action="${path`/ui/clients/${client.id}`}">
    <label class="inline-label">${t('clients.as_of_label')} <input type="date" name="as_of"
      value="${asOf ? asOfDay : ''}" max="${DateTime.fromJSDate(now, { zone: tz }).toISODate() ?? ''}"></label>
    <button type="submit">${t('clients.show')}</button>
    ${asOf ? html`<a href="${path`/ui/clients/${client.id}`}">${t('clients.now')}</a>` : ''}
  </form>
  ${
    balances.length === 0
      ? html`<p class="empty">${t('clients.no_balances')}</p>`
      : balances.map((ct) => {
          const n = (value: string) => fmt.number(value);
          const parts: Html[] = [t('clients.sum_remaining', { amount: html`<strong>${n(ct.remaining)}</strong>` })];
          if (ct.unavailable !== '0') parts.push(t('clients.sum_unavailable', { amount: n(ct.unavailable) }));
          if (ct.upcoming !== '0') parts.push(t('clients.sum_upcoming', { amount: n(ct.upcoming) }));
          if (ct.held !== '0') parts.push(t('clients.sum_held', { amount: n(ct.held) }));
          parts.push(t('clients.sum_consumed', { consumed: n(ct.consumed), granted: n(ct.granted) }));
          parts.push(t('clients.sum_expired', { amount: n(ct.expired) }));
          if (ct.voided !== '0') parts.push(t('clients.sum_voided', { amount: n(ct.voided) }));
          if (ct.next_expiry) parts.push(t('clients.sum_next_expiry', { time: fmt.dateTime(ct.next_expiry) }));
          // as the API places them: a frozen subscription's balance past its old expiry is unavailable, not expired
          const live = ct.balances.filter((b) => b.status === 'active' && b.availability !== 'expired');
          return html`<h2 class="muted">${code(ct.credit_type.code)} <span class="muted">(<bdi>${
            ct.credit_type.unit
          }</bdi>)</span></h2>
    <p class="summary">${parts.map((part, i) => html`${i > 0 ? ' · ' : ''}${part}`)}</p>
    ${forecasts.get(ct.credit_type.id) ?? ''}
    ${
      live.length === 0
        ? html`<p class="empty">${t('clients.no_live_balance')}</p>`
        : html`<div class="scroll"><table>
      <thead><tr>
        <th>${t('col.source')}</th><th>${t('clients.col_valid')}</th><th class="num">${t('col.remaining')}</th>
        <th>${t('col.left')}</th><th class="num">${t('col.consumed')}</th>
        <th><span class="visually-hidden">${t('col.actions')}</span></th>
      </tr></thead>
      <tbody>${live.map((b) => {
        const held = Number(b.granted);
        const left = Number(b.remaining);
        const label = t('clients.left_of', { remaining: n(b.remaining), granted: n(b.granted) });
        const bar = meter(left, held, { tone: leftTone(left, held), label });
        const percent = shareLeft(b.remaining, b.granted);
        return html`<tr>
        <td>${sourceWord(ctx, b.source)}</td>
        <td class="period">${range(fmt.date(b.valid_from), fmt.date(b.expires_at))}</td>
        <td class="num">${t('word.of_total', { part: n(b.remaining), whole: n(b.granted) })}</td>
        <td><span class="meter-cell">${bar} ${t('clients.percent_left', {
          percent: fmt.percent(percent),
        })}</span>${availabilityOf(ctx, b.availability)}</td>
        <td class="num">${n(b.consumed)}</td>
        <td>${adjustLink(ctx, b.id)}</td>
      </tr>`;
      })}</tbody>
    </table></div>`
    }`;
        })
  }
</section>

<section class="panel" aria-labelledby="holds-h">
  <h2 id="holds-h">${t('clients.holds_h')}</h2>
  ${
    openHolds.length === 0
      ? html`<p class="empty">${t('clients.no_holds')}</p>`
      : html`<div class="scroll"><table>
    <thead><tr>
      <th>${t('clients.col_taken')}</th><th>${t('col.credit_type')}</th><th class="num">${t('clients.col_held')}</th>
      <th>${t('col.expires')}</th><th>${t('col.reference')}</th><th>${t('clients.col_key')}</th>
      <th><span class="visually-hidden">${t('col.actions')}</span></th>
    </tr></thead>
    <tbody>${openHolds.map(
      (h) => html`<tr data-hold="${h.id}">
      <td class="nowrap">${fmt.dateTime(h.created_at)}</td>
      <td>${code(h.credit_type.code)}</td>
      <td class="num">${fmt.number(h.held)}</td>
      <td class="nowrap">${fmt.dateTime(h.expires_at)}</td>
      <td>${h.reference ? name(h.reference) : ''}</td>
      <td>${code(h.idempotency_key)}</td>
      <td>${holdForms(ctx, h, hold)}</td>
    </tr>`,
    )}</tbody>
  </table></div>`
  }
  ${moreHolds ? nextLink(ctx, moreHolds, 'clients.more_holds') : ''}
</section>

<section class="panel" aria-labelledby="stmt-h">
  <h2 id="stmt-h">${t('clients.statement_h', statementDays)}</h2>
  ${
    statement.data.length === 0
      ? html`<p class="empty">${t('clients.no_statement', statementDays)}</p>`
      : html`<div class="scroll"><table>
    <thead><tr>
      <th>${t('clients.col_recorded')}</th><th>${t('clients.col_counts_at')}</th>
      <th>${t('clients.col_kind')}</th><th>${t('col.credit_type')}</th>
      <th class="num">${t('col.amount')}</th><th class="num">${t('clients.col_remaining_after')}</th>
      <th>${t('col.reason')}</th>
    </tr></thead>
    <tbody>${statement.data.map(
      (e) => html`<tr>
      <td class="nowrap">${fmt.dateTime(e.created_at)}</td>
      <td class="nowrap">${
        // in the order they were written (`remaining_after` runs in it); a use reported late counts earlier
        e.effective_at === e.created_at
          ? html`<span class="muted">${t('clients.counts_when_recorded')}</span>`
          : fmt.dateTime(e.effective_at)
      }</td>
      <td>${ledgerKind(ctx, e.kind)}</td>
      <td>${code(e.credit_type.code)}</td>
      <td class="num">${fmt.number(e.amount)}</td>
      <td class="num">${fmt.number(e.remaining_after)}</td>
      <td>${ledgerReason(ctx, e.reason)}</td>
    </tr>`,
    )}</tbody>
  </table></div>`
  }
  ${later ? nextLink(ctx, later, 'clients.later_entries') : ''}
</section>`,
  );
}
