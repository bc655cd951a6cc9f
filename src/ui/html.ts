/**
 * Server-rendered HTML where every value is escaped unless it is itself markup made here: the
 * `html` template tag escapes each interpolated value, and only an `Html` (the result of `html`
 * or of `raw` on a constant) passes through as it is.
 */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

export const escapeHtml = (text: string): string => text.replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);

export type Renderable = Html | string | number | bigint | boolean | null | undefined | readonly Renderable[];

function render(value: Renderable): string {
  if (value instanceof Html) return value.value;
  if (Array.isArray(value)) return value.map((v: Renderable) => render(v)).join('');
  if (value === null || value === undefined || value === false) return '';
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: Renderable[]): Html {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i += 1) out += render(values[i]) + (strings[i + 1] ?? '');
  return new Html(out);
}

/** Markup written in this code base, never anything that came from a request or the database. */
export const raw = (markup: string): Html => new Html(markup);

/** A query string from pairs, each part encoded. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  return parts.length > 0 ? `?${parts.join('&')}` : '';
}

/** A path with encoded segments: path`/ui/clients/${id}`. */
export function path(strings: TemplateStringsArray, ...values: Array<string | number>): string {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i += 1) out += encodeURIComponent(String(values[i])) + (strings[i + 1] ?? '');
  return out;
}

/** A name of a person or a thing, which may be written right to left: isolated so it cannot reorder its neighbours. */
export const name = (text: string | null | undefined): Html => html`<bdi>${text ?? ''}</bdi>`;

/**
 * A name inside text that holds no markup — an attribute (a screen reader's label) or an SVG `<title>` (a tooltip),
 * where `<bdi>` cannot go: isolated by Unicode's own marks (FIRST STRONG ISOLATE … POP DIRECTIONAL ISOLATE), so that a
 * Latin unit in an Arabic label is not reordered with the digits beside it.
 */
export const isolated = (text: string): string => `\u2068${text}\u2069`;

/** A code, an id or a key (a package's, a credit type's, a client's reference): as it is, left to right. */
export const code = (value: unknown, muted = false): Html =>
  value === null || value === undefined || value === ''
    ? html``
    : html`<code dir="ltr"${muted ? html` class="muted"` : ''}>${String(value)}</code>`;
