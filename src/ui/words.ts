import type { Validity } from '../domain/period.js';
import { type Html, html } from './html.js';
import type { UiContext } from './layout.js';

/**
 * The domain's values in the viewer's words, the same on every page that shows them (statuses are
 * layout.ts's `badge`).
 */

/**
 * A validity as a person reads it: "1 month", "3 Hijri months", "٣ أشهر هجرية" — counted with the plural
 * forms of the viewer's language, and naming the calendar when months or years are counted in the Hijri
 * one (a day or a week is the same length in every calendar). The packages' pages and the sale form's
 * choices show the same words.
 */
export function validity(ctx: Pick<UiContext, 't' | 'fmt'>, v: Validity): Html {
  const params = { count: v.count, number: ctx.fmt.number(v.count) };
  const hijri = v.calendar !== undefined && v.calendar !== 'gregory';
  switch (v.unit) {
    case 'day':
    case 'week':
      return ctx.t(`validity.${v.unit}`, params);
    case 'month':
    case 'year':
      return ctx.t(hijri ? `validity.hijri_${v.unit}` : `validity.${v.unit}`, params);
  }
}

/** Where a balance's units came from (package, recharge, rollover, an operator's adjustment). */
export function sourceWord(ctx: Pick<UiContext, 't'>, source: unknown): Html {
  switch (source) {
    case 'package':
    case 'recharge':
    case 'rollover':
    case 'adjustment':
      return ctx.t(`source.${source}`);
    default:
      return html`<code dir="ltr">${String(source ?? '')}</code>`;
  }
}
