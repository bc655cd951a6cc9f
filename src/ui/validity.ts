import type { Validity } from '../domain/period.js';
import type { Html } from './html.js';
import type { UiContext } from './layout.js';

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
