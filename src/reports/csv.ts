/**
 * CSV as RFC 4180 describes it (CRLF line ends, a header row, a field quoted when it holds a quote,
 * a comma, CR or LF, quotes doubled), made safe to open in a spreadsheet: a text cell that a
 * spreadsheet would read as a formula (`=`, `+`, `-`, `@`, tab, CR first) gets a leading `'`.
 * A plain negative number (`-4`) stays a number: it cannot carry a formula.
 */
export type Cell = string | number | bigint | boolean | null | undefined;

const FORMULA_START = /^[=+\-@\t\r]/;
const NEGATIVE_NUMBER = /^-\d+(\.\d+)?$/;
const NEEDS_QUOTES = /[",\r\n]/;

/** The text of one cell, neutralised against formula injection but not yet quoted. */
export function csvText(value: Cell): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return '';
    return String(value);
  }
  if (typeof value === 'bigint') return value.toString();
  if (FORMULA_START.test(value) && !NEGATIVE_NUMBER.test(value)) return `'${value}`;
  return value;
}

/** One field as written: quoted (quotes doubled) when RFC 4180 requires it. */
export function csvField(value: Cell): string {
  const text = csvText(value);
  return NEEDS_QUOTES.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One record, CRLF-terminated. */
export function csvLine(values: readonly Cell[]): string {
  return `${values.map(csvField).join(',')}\r\n`;
}
