import type { RouteOutcome } from '../../http/run-route.js';
import { isUuid } from '../../ids.js';
import { holdRowAsSwept } from '../../jobs/swept-reads.js';
import { holdResults } from '../../services/holds.js';
import type { HoldResult } from '../../views/hold.js';
import { fieldError, fieldErrorsOf, idemField, invalidAttributes } from '../form.js';
import { type Html, html, path } from '../html.js';
import { csrfField, statusWord, type UiContext } from '../layout.js';
import { type Refusal, refusalOf, units } from './commerce-parts.js';

/**
 * An open hold's capture and release on the client page (issue 15 showed the holds; an operator closes them here):
 * the row's two forms, the hold as the API shows it, and a refusal of the capture or release routes told in the
 * page's language. Nothing here validates: POST /v1/holds/{id}/capture and /release do.
 */

/**
 * The hold as GET /v1/holds/{id} answers it once taken, as the sweep leaves it (undefined for none: not an id, or
 * still queued).
 */
export async function holdOf(ctx: UiContext, id: string): Promise<HoldResult | undefined> {
  if (!isUuid(id)) return undefined;
  // as GET /v1/holds/{id} reads it: past its expires_at it is closed first, not asked about
  const row = await holdRowAsSwept(ctx.app, id);
  return row ? (await holdResults(ctx.app, [row]))[0] : undefined;
}

/** A capture or release the route refused, shown on the client page: the quantity as typed, and why. */
export interface HoldRefusal {
  holdId: string;
  quantity: string;
  refusal: Refusal;
}

/** The route's words for a hold already closed (routes/holds.ts closedConflict). */
const CLOSED = /^hold [0-9a-f-]{36} is (\w{1,20}): it cannot be (?:captured|released)$/;
/** The route's words for a capture larger than the hold. */
const BEYOND_HELD = 'is more than the hold holds';

/**
 * A refused capture or release as the client page tells it (refusalOf), with the hold routes' own reasons in the
 * page's language: a hold closed meanwhile (409) says which way it closed, and a quantity above what it holds says
 * how much that is, beside the field.
 */
export function holdRefusal(ctx: UiContext, outcome: RouteOutcome, hold: HoldResult): Refusal {
  const refusal = refusalOf(ctx, outcome);
  const closed = outcome.kind === 'failure' ? CLOSED.exec(outcome.failure.detail) : null;
  if (closed)
    refusal.message = html`${ctx.t('commerce.refused.conflict')} ${ctx.t('clients.hold_not_open', {
      status: statusWord(ctx, closed[1] ?? ''),
    })}`;
  // the route's own words (refusalOf has put them in the page's language already): with the figure, beside the field
  if (fieldErrorsOf(outcome).get('quantity') === BEYOND_HELD)
    refusal.errors = new Map([
      ...refusal.errors,
      ['quantity', ctx.t('clients.capture_beyond_held', { held: units(ctx, hold.held, hold.credit_type.unit) })],
    ]);
  return refusal;
}

/**
 * The Capture form (a quantity, empty for all it holds) and the Release button of an open hold's row. Each posts to
 * the page's own route, which asks first; a refused capture shows its quantity again, marked, its reason beside it.
 */
export function holdForms(ctx: UiContext, h: HoldResult, refused: HoldRefusal | undefined): Html {
  const { t } = ctx;
  const mine = refused?.holdId === h.id ? refused : undefined;
  const errors = mine?.refusal.errors ?? new Map<string, string | Html>();
  return html`<div class="actions">
          <form class="inline capture" method="post"
            action="${path`/ui/holds/${h.id}/capture`}">${csrfField(ctx)}${idemField()}<label
            class="muted small">${t('clients.capture_quantity')}
            <input type="text" name="quantity" inputmode="decimal" size="6" dir="ltr"
            value="${mine?.quantity ?? ''}"${invalidAttributes(errors, 'quantity')}
            title="${t('clients.capture_quantity_hint')}"></label><button type="submit"
            data-action="capture" data-hold="${h.id}">${t('clients.capture')}</button>${fieldError(
              ctx,
              errors,
              'quantity',
            )}</form>
          <form class="inline" method="post"
            action="${path`/ui/holds/${h.id}/release`}">${csrfField(ctx)}${idemField()}<button class="secondary"
            type="submit" data-action="release" data-hold="${h.id}">${t('clients.release')}</button></form>
        </div>`;
}
