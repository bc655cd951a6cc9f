import type { PlacedBalanceRow } from '../../db/repositories/balances.js';
import { findClient } from '../../db/repositories/clients.js';
import { type CreditTypeRow, creditTypesByIds } from '../../db/repositories/credit-types.js';
import { latestEntryOfBalance } from '../../db/repositories/ledger.js';
import { availabilityOf } from '../../domain/availability.js';
import { isUuid } from '../../ids.js';
import { placedBalanceAsSwept } from '../../jobs/swept-reads.js';
import { REASON_MAX_LENGTH } from '../../schemas/common.js';
import { toLedgerEntryView } from '../../services/balances.js';
import { type PlacedBalanceView, toPlacedBalanceView } from '../../views/balance.js';
import { type FieldErrors, type FormFields, idemField, numberField, textField } from '../form.js';
import { code, type Html, html, name, path } from '../html.js';
import { badge, csrfField, notice, page, type UiContext } from '../layout.js';
import { sourceWord } from '../words.js';
import { extraText, type FormState, inputField, refusalBlock, shortId, span, units } from './commerce-parts.js';

export interface BalanceRead {
  /** As GET /v1/balances/{id} answers it. */
  view: PlacedBalanceView;
  row: PlacedBalanceRow;
  creditType: CreditTypeRow;
}

/** The balance as the API reads it, with the rows it is made of. */
export async function balanceOf(ctx: UiContext, id: string): Promise<BalanceRead | undefined> {
  if (!isUuid(id)) return undefined;
  // as GET /v1/balances/{id} reads it: what the sweep owes its client done first
  const row = await placedBalanceAsSwept(ctx.app, id);
  if (!row) return undefined;
  const creditType = (await creditTypesByIds(ctx.app.db, [row.credit_type_id])).get(row.credit_type_id);
  if (!creditType) return undefined;
  const availability = availabilityOf(
    { status: row.status, validFrom: row.valid_from, expiresAt: row.expires_at },
    row.subscription_status,
    ctx.app.clock.now(),
    row.subscription_frozen_at ?? null,
  );
  return { view: toPlacedBalanceView(row, creditType, availability), row, creditType };
}

/** The body of POST /v1/balances/{id}/adjustments from the form (the delta's digits made ASCII). */
export const adjustmentBody = (fields: FormFields): Record<string, unknown> => ({
  delta: numberField(fields, 'delta'),
  reason: textField(fields, 'reason'),
});

/** A removal larger than what the balance holds, with its figures. */
export const adjustRefusedMessage = (ctx: UiContext, extra: Record<string, unknown>, unit: string): Html =>
  ctx.t('commerce.adjust.insufficient', {
    remaining: units(ctx, extraText(extra, 'remaining') ?? '0', unit),
    // "cannot lose 2,000": the sentence says it is a removal, so the amount is written without its sign
    delta: units(ctx, (extraText(extra, 'delta') ?? '0').replace(/^-/, ''), unit),
  });

/**
 * GET /ui/balances/:id (and /adjust): one balance — where it came from, what it holds, its last ledger
 * entry — and the form that adds or removes units with a reason.
 */
export async function balancePage(
  ctx: UiContext,
  id: string,
  form: FormState = { values: {} },
): Promise<Html | undefined> {
  const read = await balanceOf(ctx, id);
  if (!read) return undefined;
  const { view: b, row, creditType } = read;
  const { db } = ctx.app;
  const client = await findClient(db, row.client_id);
  const last = await latestEntryOfBalance(db, b.id);
  const entry = last ? toLedgerEntryView(last, creditType) : undefined;
  const errors: FieldErrors = form.refusal?.errors ?? new Map();
  const unit = b.credit_type.unit;
  const owner = b.subscription_id
    ? html`<a href="${path`/ui/subscriptions/${b.subscription_id}`}">${ctx.t('commerce.balance.subscription')}</a>`
    : html`${ctx.t('commerce.balance.grant')}`;
  return page(
    ctx,
    { title: ctx.t('commerce.adjust.title').value, section: 'clients' },
    html`${notice(ctx)}${refusalBlock(ctx, form.refusal, ['delta', 'reason'])}
<h1>${ctx.t('commerce.adjust.title')}</h1>
<p class="sub"><a href="${path`/ui/clients/${row.client_id}`}">${name(client?.name ?? '')}</a>
  ${client ? code(client.external_ref) : ''} · ${owner} · ${shortId(b.id)}</p>
<section class="panel" aria-labelledby="bal-h" data-balance="${b.id}" data-remaining="${b.remaining}">
  <h2 id="bal-h">${code(b.credit_type.code)} ${badge(ctx, b.status)}</h2>
  <dl class="kv">
    <dt>${ctx.t('commerce.balance.source')}</dt><dd>${sourceWord(ctx, b.source)}</dd>
    <dt>${ctx.t('commerce.balance.remaining')}</dt><dd data-balance-remaining="${b.remaining}">${units(
      ctx,
      b.remaining,
      unit,
    )}</dd>
    <dt>${ctx.t('commerce.balance.granted')}</dt><dd>${units(ctx, b.granted, unit)}</dd>
    <dt>${ctx.t('commerce.balance.consumed')}</dt><dd>${units(ctx, b.consumed, unit)}</dd>
    <dt>${ctx.t('commerce.balance.valid')}</dt>
    <dd>${span(ctx, ctx.fmt.dateTime(b.valid_from), ctx.fmt.dateTime(b.expires_at))}</dd>
  </dl>
  ${
    entry
      ? html`<p class="legend" data-last-entry="${entry.kind}" data-last-amount="${entry.amount}">${ctx.t(
          'commerce.balance.last_entry',
          {
            kind: code(entry.kind),
            amount: units(ctx, entry.amount, unit),
            after: units(ctx, entry.remaining_after, unit),
            at: ctx.fmt.dateTime(entry.created_at),
          },
        )}${entry.reason ? html` · <span dir="auto" data-last-reason>${entry.reason}</span>` : ''}</p>`
      : ''
  }
</section>
<section class="panel" aria-labelledby="adj-h">
  <h2 id="adj-h">${ctx.t('commerce.adjust.heading')}</h2>
  <form method="post" action="${path`/ui/balances/${b.id}/adjust`}" data-form="adjust">
    ${csrfField(ctx)}${idemField(form.values.idem)}
    <div class="form-grid">
      ${inputField(ctx, errors, {
        name: 'delta',
        label: ctx.t('commerce.adjust.delta'),
        value: form.values.delta,
        hint: ctx.t('commerce.adjust.delta_hint', { unit: name(unit), example: ctx.fmt.number('-2.5') }),
        attrs: html` inputmode="decimal" dir="ltr"`,
      })}
      ${inputField(ctx, errors, {
        name: 'reason',
        label: ctx.t('commerce.adjust.reason'),
        value: form.values.reason,
        attrs: html` maxlength="${REASON_MAX_LENGTH}" dir="auto"`,
      })}
      <div><button type="submit" data-action="adjust">${ctx.t('commerce.adjust.submit')}</button></div>
    </div>
  </form>
</section>`,
  );
}
