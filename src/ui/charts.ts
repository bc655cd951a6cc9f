import { type Html, html } from './html.js';

/**
 * Charts as inline SVG, drawn on the server: no script, no library, nothing from another origin
 * (the pages' CSP allows only 'self'). Colours and fonts come from ui.css through classes.
 */

export interface Point {
  /** Axis label, e.g. a day `2026-01-03`. */
  label: string;
  value: number;
  /** The value as a person reads it (exact decimal), for the tooltip. */
  display: string;
}

/** A round step for about `count` gridlines up to `max`: 1, 2, 2.5 or 5 × 10^n. */
export function niceStep(max: number, count = 4, integer = false): number {
  if (!(max > 0)) return 1;
  const raw = integer ? Math.max(1, max / count) : max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const factors = integer && magnitude < 10 ? [1, 2, 5, 10] : [1, 2, 2.5, 5, 10];
  return factors.map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
}

const formatTick = (value: number): string => {
  if (value >= 1_000_000) return `${+(value / 1_000_000).toFixed(1)}M`;
  if (value >= 10_000) return `${+(value / 1_000).toFixed(1)}k`;
  return String(+value.toFixed(2));
};

/** Vertical bars over time, with a y axis, gridlines, a label every few bars and a tooltip on each. */
export function barChart(options: {
  title: string;
  unit: string;
  points: readonly Point[];
  width?: number;
  height?: number;
  integer?: boolean;
}): Html {
  const width = options.width ?? 640;
  const height = options.height ?? 220;
  const margin = { top: 12, right: 12, bottom: 28, left: 48 };
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
  const labelEvery = Math.max(1, Math.ceil(n / 8));
  const total = options.points.reduce((s, p) => s + p.value, 0);
  return html`<figure class="chart">
  <svg viewBox="0 0 ${width} ${height}" role="img"
    aria-label="${options.title}: ${formatTick(total)} ${options.unit} in ${n} bars"
    preserveAspectRatio="xMidYMid meet">
    <title>${options.title}</title>
    ${ticks.map(
      (t) => html`<line class="grid" x1="${margin.left}" x2="${width - margin.right}"
      y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}"></line>
    <text class="tick" x="${margin.left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end">${formatTick(t)}</text>`,
    )}
    ${options.points.map((p, i) => {
      const x = margin.left + i * slot + (slot - barW) / 2;
      const h = Math.max(0, margin.top + plotH - y(p.value));
      return html`<rect class="bar${p.value === 0 ? ' zero' : ''}" x="${x.toFixed(1)}"
        y="${(margin.top + plotH - h).toFixed(1)}" width="${barW.toFixed(1)}"
        height="${Math.max(h, p.value > 0 ? 1 : 0).toFixed(1)}" rx="1.5"
        ><title>${p.label}: ${p.display} ${options.unit}</title></rect>`;
    })}
    <line class="axis" x1="${margin.left}" x2="${width - margin.right}"
      y1="${margin.top + plotH}" y2="${margin.top + plotH}"></line>
    ${options.points.map((p, i) =>
      // counted back from the last bar, so that the latest day always has its label
      (n - 1 - i) % labelEvery === 0
        ? html`<text class="tick" x="${(margin.left + i * slot + slot / 2).toFixed(1)}" y="${height - 8}"
            text-anchor="middle">${p.label.slice(5)}</text>`
        : '',
    )}
  </svg>
  <figcaption>${options.title} <span class="muted">(${options.unit})</span></figcaption>
</figure>`;
}

/** A thin bar for "how much of it": remaining of what was granted, a count of the largest. */
export function meter(
  value: number,
  max: number,
  options: { tone?: 'ok' | 'warn' | 'danger' | 'plain'; label?: string } = {},
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
