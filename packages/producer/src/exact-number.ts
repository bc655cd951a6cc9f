/**
 * DOMAIN.md "Quantities are never rounded, JSON numbers included". A JSON number is read as a double;
 * a double keeps every decimal of up to 15 significant digits (DBL_DIG): the shortest text that
 * prints it is the decimal that was written. Past 15 digits it may be another number that was
 * written (`999999999999.9999` becomes `1000000000000`), so such a number is never taken as a double:
 * the API reads it from the body's text, and a job schema refuses it.
 */
export const DOUBLE_EXACT_DIGITS = 15;

/** The smallest positive normal double: below it a double has fewer significant digits. */
const MIN_NORMAL = 2.2250738585072014e-308;

/** A JSON number's text (and what String(number) prints): sign, digits, fraction, exponent. */
const NUMBER_TEXT = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;
const INTEGER_TEXT = /^-?\d+$/;

/** Significant digits of a number's text: from the first non-zero digit to the last (0 for zero). */
export function significantDigits(text: string): number {
  const match = NUMBER_TEXT.exec(text);
  if (!match) return Number.POSITIVE_INFINITY;
  const [, , int = '', fraction = ''] = match;
  return (int + fraction).replace(/^0+/, '').replace(/0+$/, '').length;
}

/**
 * Whether the number this JSON text writes survives a double: it is a safe integer, or it has at
 * most 15 significant digits and neither overflows nor underflows.
 */
export function isExactNumberText(text: string): boolean {
  const value = Number(text);
  if (!Number.isFinite(value)) return false;
  if (INTEGER_TEXT.test(text) && Number.isSafeInteger(value)) return true;
  const digits = significantDigits(text);
  if (digits === 0) return true;
  if (Math.abs(value) < MIN_NORMAL) return false;
  return digits <= DOUBLE_EXACT_DIGITS;
}

/**
 * Whether a number already read as a double can be trusted to be the decimal its sender wrote: a
 * safe integer, or one whose shortest text has at most 15 significant digits. (A job's data is JSON
 * text in Redis: this is all a worker can know of what the producer meant.)
 */
export const isExactNumber = (value: number): boolean =>
  Number.isFinite(value) && (Number.isSafeInteger(value) || isExactNumberText(String(value)));

/**
 * A JSON number's text as a plain decimal string, without an exponent (`1.25e3` → `"1250"`), so that
 * the quantity and money parsers read it like any decimal string. An exponent past `maxLength` digits
 * is left as it is (and refused there).
 */
export function plainDecimal(text: string, maxLength = 1_000): string {
  const match = NUMBER_TEXT.exec(text);
  if (!match) return text;
  const [, sign = '', int = '', fraction = '', exponent] = match;
  if (exponent === undefined) return text;
  const shift = Number(exponent);
  if (!Number.isSafeInteger(shift) || Math.abs(shift) > maxLength) return text;
  let digits = int + fraction;
  let point = int.length + shift;
  if (point <= 0) {
    digits = '0'.repeat(1 - point) + digits;
    point = 1;
  } else if (point > digits.length) {
    digits += '0'.repeat(point - digits.length);
  }
  const whole = digits.slice(0, point).replace(/^0+(?=\d)/, '');
  const rest = digits.slice(point);
  return `${sign}${whole}${rest ? `.${rest}` : ''}`;
}
