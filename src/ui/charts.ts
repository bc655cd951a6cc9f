import { type Html, html, isolated } from './html.js';
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

/**
 * The widths a chart is drawn at (its viewBox): the stylesheet sizes each one's labels for the width it is shown at
 * (`chartLabelRules`).
 */
export const CHART_WIDTHS = [640, 960] as const;
export type ChartWidth = (typeof CHART_WIDTHS)[number];

/** The size of a chart's labels on the screen, in CSS px, whatever its width (a phone's included). */
export const CHART_LABEL_PX = 11;
/** The narrowest a chart is shown, on the narrowest phone (320 px, less the padding of the page and its panel). */
export const CHART_NARROWEST_PX = 260;
/** Below this shown width an axis labels every other day it labels wider (`sparse`), and its numbers stand inside. */
export const CHART_NARROW_PX = 480;

/**
 * The stylesheet's rules that keep a chart's labels readable when the chart is shown narrower than it is drawn (a
 * phone: 640 drawn, ~340 shown, would make 11 px labels 6 px). An SVG's text scales with its viewBox, so the label's
 * size in the drawing is chosen by the width the chart is shown at (a container query on its figure), in steps: at
 * every shown width the labels are at least CHART_LABEL_PX on the screen and at most an eighth more.
 */
export function chartLabelRules(): string {
  const rules: string[] = [];
  const step = 8 / 9;
  for (const width of CHART_WIDTHS) {
    // down to the narrowest phone's chart (320 px less the page's and the panel's padding)
    for (let shownAbove = width * step; shownAbove * (1 / step) > CHART_NARROWEST_PX; shownAbove *= step) {
      const size = Math.ceil(((CHART_LABEL_PX * width) / shownAbove) * 10) / 10;
      const upTo = Math.round(shownAbove / step);
      rules.push(`@container chart (max-width: ${upTo}px) { svg.w${width} .tick { font-size: ${size}px; } }`);
    }
  }
  return rules.join('\n');
}

/**
 * At most how wide a day's label is, in ems: a digit's advance (0.64 em, Western or Arabic-Indic), a space's, and
 * 0.72 em for any other letter — the widest of the labels' fonts' letters on average (DejaVu Sans' "أغسطس", joined,
 * is 0.72 em a letter; "May" 0.69 em). An estimate from above: the server cannot measure the text, so it spaces the
 * labels for the widest a label may be.
 */
export function labelEms(label: string): number {
  let ems = 0;
  for (const char of label) {
    if (/\p{Cf}/u.test(char)) continue;
    ems += /\s/u.test(char) ? 0.32 : /\p{Nd}/u.test(char) ? 0.64 : 0.72;
  }
  return ems;
}

/**
 * Every how many bars a day is labelled (counted back from the latest, which always is): at most about eight labels,
 * and fewer when they would crowd. Measured in the drawing's units for the largest its labels stand there: shown
 * wide (above CHART_NARROW_PX) every label shows, at most 9/8 of CHART_LABEL_PX on the screen, the chart shown
 * CHART_NARROW_PX wide at the least; shown narrow every other one shows, the chart CHART_NARROWEST_PX wide at the
 * least.
 * Two neighbouring labels keep half an em apart: centred under their bars, or the latest ending where its slot does
 * (it reaches back towards its neighbour by its width less half a slot).
 */
export function labelStep(labels: readonly string[], slot: number, width: number): number {
  const n = labels.length;
  const widths = labels.map(labelEms);
  const apart = (every: number, shownPx: number) => {
    // one em in the drawing's units: the largest label's size on the screen, scaled from the screen to the drawing
    const em = ((CHART_LABEL_PX * 9) / 8 + 0.1) * (width / shownPx);
    for (let later = n - 1; later - every >= 0; later -= every) {
      const a = widths[later]! * em;
      const b = widths[later - every]! * em;
      // the room between the two labels' nearest edges
      const room = later === n - 1 ? every * slot + slot / 2 - a - b / 2 : every * slot - a / 2 - b / 2;
      if (room < em / 2) return false;
    }
    return true;
  };
  let every = Math.max(1, Math.ceil(n / 8));
  while (every < n && !(apart(every, CHART_NARROW_PX) && apart(2 * every, CHART_NARROWEST_PX))) every += 1;
  return every;
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
    width?: ChartWidth;
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
  // room above the top gridline for its number, which stands over its line inside the plot on a phone (its size in
  // the drawing grows with the drawing's width: chartLabelRules)
  const headroom = Math.round((30 * width) / 640);
  const margin = { top: headroom, right: rtl ? axisSide : 12, bottom: 28, left: rtl ? 12 : axisSide };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const max = Math.max(0, ...options.points.map((p) => p.value));
  // counts below 4 still get four gridlines (0–4), not a scale of halves
  const step = options.integer && max <= 4 ? 1 : niceStep(max, 4, options.integer ?? false);
  const top = options.integer && max <= 4 ? 4 : max > 0 ? Math.ceil(max / step) * step : step * 4;
  const ticks: number[] = [];
  for (let v = 0; v <= top + step / 2; v += step) ticks.push(v);
  const gridGap = (plotH / Math.max(1, ticks.length - 1)) * (CHART_NARROWEST_PX / width);
  const crowded = gridGap < 1.5 * CHART_LABEL_PX;
  const n = Math.max(1, options.points.length);
  const slot = plotW / n;
  const barW = Math.max(1, slot * 0.72);
  const y = (v: number) => margin.top + plotH - (top > 0 ? (v / top) * plotH : 0);
  // the i-th point's slot from the start side: the left, or the right when the page reads right to left
  const slotX = (i: number) => margin.left + (rtl ? n - 1 - i : i) * slot;
  const labelEvery = labelStep(
    options.points.map((p) => p.label),
    slot,
    width,
  );
  const total = options.points.reduce((s, p) => s + p.value, 0);
  const tickX = rtl ? width - margin.right + 6 : margin.left - 6;
  const tickAnchor = rtl ? 'start' : 'end';
  // a unit the business typed (a credit type's) is a name; a word of the catalogue (Html) is the page's own text
  const unitName = typeof options.unit === 'string' ? isolated(options.unit) : options.unit;
  const summary = t('chart.summary', {
    title: isolated(options.title),
    // a screen reader hears the exact sum (2.25 hours, 1,234 requests), not the axis's rounded 2.3 or 1.2K
    total: options.total ?? fmt.number(total),
    unit: unitName,
    count: options.points.length,
    bars: fmt.number(options.points.length),
  });
  return html`<figure class="chart">
  <svg class="w${width}" viewBox="0 0 ${width} ${height}" role="img" direction="ltr" aria-label="${summary}"
    preserveAspectRatio="xMidYMid meet" data-direction="${rtl ? 'rtl' : 'ltr'}">
    <title>${options.title}</title>
    ${ticks.map(
      (v) => html`<line class="grid" x1="${margin.left}" x2="${width - margin.right}"
      y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}"></line>`,
    )}
    ${options.points.map((p, i) => {
      const x = slotX(i) + (slot - barW) / 2;
      // an archived day is a full-height pale band: the eye sees "not kept", not "zero"
      const h = p.archived ? plotH : Math.max(0, margin.top + plotH - y(p.value));
      const tip = p.archived
        ? t('chart.bar_archived', { when: p.title })
        : t('chart.bar_title', { when: p.title, value: p.display, unit: unitName });
      return html`<rect class="bar${p.archived ? ' archived' : p.value === 0 ? ' zero' : ''}" x="${x.toFixed(1)}"
        y="${(margin.top + plotH - h).toFixed(1)}" width="${barW.toFixed(1)}"
        height="${Math.max(h, p.value > 0 ? 1 : 0).toFixed(1)}" rx="1.5"
        ><title>${tip}</title></rect>`;
    })}
    <line class="axis" x1="${margin.left}" x2="${width - margin.right}"
      y1="${margin.top + plotH}" y2="${margin.top + plotH}"></line>
    ${ticks.map(
      // after the bars: on a phone a number stands over its gridline inside the plot, in front of them; every other
      // one when the gridlines would stand closer than one and a half labels there
      (v, i) => html`<text class="tick y${crowded && i % 2 === 1 ? ' sparse' : ''}" x="${tickX}"
      y="${(y(v) + 4).toFixed(1)}" text-anchor="${tickAnchor}">${fmt.compact(v)}</text>`,
    )}
    ${options.points.map((p, i) => {
      // counted back from the last bar, so that the latest day always has its label; on a phone every other one
      const label = (n - 1 - i) / labelEvery;
      if (!Number.isInteger(label)) return '';
      // the latest day's label ends where its bar's slot does, at the plot's end side: centred under the bar, a
      // label wider than the slot and the margin together (a phone's larger labels) would stand past the edge
      const latest = i === n - 1;
      const x = latest ? slotX(i) + (rtl ? 0 : slot) : slotX(i) + slot / 2;
      const anchor = latest ? (rtl ? 'start' : 'end') : 'middle';
      return html`<text class="tick x${label % 2 === 1 ? ' sparse' : ''}" x="${x.toFixed(1)}" y="${height - 8}"
            text-anchor="${anchor}">${p.label}</text>`;
    })}
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
