import { type Html, html } from './html.js';
import { DIRECTION } from './i18n/locale.js';
import type { UiContext } from './layout.js';

/**
 * Charts as inline SVG, drawn on the server: no script, no library, nothing from another origin
 * (the pages' CSP allows only 'self'). Colours and fonts come from ui.css through classes.
 */

export interface Point {
  /** The axis label, as the locale writes it (a short day). */
  label: string;
  /** What the bar stands for in its tooltip (a whole day), as the locale writes it. */
  title: string;
  value: number;
  /** The value as a person reads it (exact decimal, the locale's digits), for the tooltip. */
  display: string;
  /** A day whose history is archived: no bar, and a tooltip that says so rather than a value. */
  archived?: boolean;
}

/** What a chart needs to speak the page's language: its texts, its numbers and the direction time runs in. */
export type ChartLocale = Pick<UiContext, 'locale' | 't' | 'fmt'>;

/** A round step for about `count` gridlines up to `max`: 1, 2, 2.5 or 5 × 10^n. */
export function niceStep(max: number, count = 4, integer = false): number {
  if (!(max > 0)) return 1;
  const raw = integer ? Math.max(1, max / count) : max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const factors = integer && magnitude < 10 ? [1, 2, 5, 10] : [1, 2, 2.5, 5, 10];
  return factors.map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
}

/**
 * Vertical bars over time, with a y axis, gridlines, a label every few bars and a tooltip on each.
 * Right to left (Arabic) the chart is mirrored: time runs from right to left and the y axis stands on
 * the right. The drawing itself is laid out left to right (`direction="ltr"` on the SVG, so that
 * `text-anchor` means what the coordinates say); each label's own text still reads in its language.
 */
export function barChart(
  where: ChartLocale,
  options: {
    /** The chart's name (a credit type's code: a value from the database). */
    title: string;
    /** The unit of the values: a credit type's unit (from the database) or a translated word. */
    unit: string | Html;
    points: readonly Point[];
    width?: number;
    height?: number;
    integer?: boolean;
    /** The sum of the values as a person reads it (exact decimal, the locale's digits), for the summary. */
    total?: string;
  },
): Html {
  const { t, fmt } = where;
  const rtl = DIRECTION[where.locale] === 'rtl';
  const width = options.width ?? 640;
  const height = options.height ?? 220;
  const axisSide = 48;
  const margin = { top: 12, right: rtl ? axisSide : 12, bottom: 28, left: rtl ? 12 : axisSide };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const max = Math.max(0, ...options.points.map((p) => p.value));
  // counts below 4 still get four gridlines (0–4), not a scale of halves
  const step = options.integer && max <= 4 ? 1 : niceStep(max, 4, options.integer ?? false);
  const top = options.integer && max <= 4 ? 4 : max > 0 ? Math.ceil(max / step) * step : step * 4;
  const ticks: number[] = [];
  for (let v = 0; v <= top + step / 2; v += step) ticks.push(v);
  const n = Math.max(1, options.points.length);
  const slot = plotW / n;
  const barW = Math.max(1, slot * 0.72);
  const y = (v: number) => margin.top + plotH - (top > 0 ? (v / top) * plotH : 0);
  // the i-th point's slot from the start side: the left, or the right when the page reads right to left
  const slotX = (i: number) => margin.left + (rtl ? n - 1 - i : i) * slot;
  const labelEvery = Math.max(1, Math.ceil(n / 8));
  const total = options.points.reduce((s, p) => s + p.value, 0);
  const tickX = rtl ? width - margin.right + 6 : margin.left - 6;
  const tickAnchor = rtl ? 'start' : 'end';
  const summary = t('chart.summary', {
    title: options.title,
    // a screen reader hears the exact sum (2.25 hours, 1,234 requests), not the axis's rounded 2.3 or 1.2K
    total: options.total ?? fmt.number(total),
    unit: options.unit,
    count: options.points.length,
    bars: fmt.number(options.points.length),
  });
  return html`<figure class="chart">
  <svg viewBox="0 0 ${width} ${height}" role="img" direction="ltr" aria-label="${summary}"
    preserveAspectRatio="xMidYMid meet" data-direction="${rtl ? 'rtl' : 'ltr'}">
    <title>${options.title}</title>
    ${ticks.map(
      (v) => html`<line class="grid" x1="${margin.left}" x2="${width - margin.right}"
      y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}"></line>
    <text class="tick" x="${tickX}" y="${(y(v) + 4).toFixed(1)}" text-anchor="${tickAnchor}">${fmt.compact(v)}</text>`,
    )}
    ${options.points.map((p, i) => {
      const x = slotX(i) + (slot - barW) / 2;
      // an archived day is a full-height pale band: the eye sees "not kept", not "zero"
      const h = p.archived ? plotH : Math.max(0, margin.top + plotH - y(p.value));
      const tip = p.archived
        ? t('chart.bar_archived', { when: p.title })
        : t('chart.bar_title', { when: p.title, value: p.display, unit: options.unit });
      return html`<rect class="bar${p.archived ? ' archived' : p.value === 0 ? ' zero' : ''}" x="${x.toFixed(1)}"
        y="${(margin.top + plotH - h).toFixed(1)}" width="${barW.toFixed(1)}"
        height="${Math.max(h, p.value > 0 ? 1 : 0).toFixed(1)}" rx="1.5"
        ><title>${tip}</title></rect>`;
    })}
    <line class="axis" x1="${margin.left}" x2="${width - margin.right}"
      y1="${margin.top + plotH}" y2="${margin.top + plotH}"></line>
    ${options.points.map((p, i) =>
      // counted back from the last bar, so that the latest day always has its label
      (n - 1 - i) % labelEvery === 0
        ? html`<text class="tick" x="${(slotX(i) + slot / 2).toFixed(1)}" y="${height - 8}"
            text-anchor="middle">${p.label}</text>`
        : '',
    )}
  </svg>
  <figcaption><bdi>${options.title}</bdi> <span class="muted">(<bdi>${options.unit}</bdi>)</span></figcaption>
</figure>`;
}

/**
 * A thin bar for "how much of it": remaining of what was granted, a count of the largest. It fills from
 * the start side: the stylesheet mirrors it on a right-to-left page. Give it a `label` in the page's
 * language (the default is only a percentage in Western digits).
 */
export function meter(
  value: number,
  max: number,
  options: { tone?: 'ok' | 'warn' | 'danger' | 'plain'; label?: string | Html } = {},
): Html {
  const ratio = max > 0 ? Math.min(1, Math.max(0, value / max)) : 0;
  const tone = options.tone ?? 'plain';
  const label = options.label ?? `${Math.round(ratio * 100)}%`;
  return html`<svg class="meter" viewBox="0 0 100 10" preserveAspectRatio="none" role="img" aria-label="${label}"
    ><rect class="meter-bg" width="100" height="10"></rect
    ><rect class="meter-fg ${tone}" width="${(ratio * 100).toFixed(2)}" height="10"></rect></svg>`;
}

/** The tone of a "what is left" bar: red when almost nothing is left. */
export const leftTone = (left: number, of: number): 'ok' | 'warn' | 'danger' => {
  if (of <= 0) return 'danger';
  const ratio = left / of;
  return ratio <= 0.1 ? 'danger' : ratio <= 0.25 ? 'warn' : 'ok';
};
