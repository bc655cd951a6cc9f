import { fail, ok, type Result } from './result.js';

/**
 * A quantity is an exact number of a credit type's units, held as a bigint of scaled units
 * (`units × 10^decimals`). The API speaks decimal strings; nothing is ever rounded: a value that
 * cannot be held exactly is refused.
 */
export type Scaled = bigint;

export const MAX_DECIMALS = 6;
/** DOMAIN.md: a quantity above 10^15 units is refused. */
export const MAX_UNITS = 10n ** 15n;
/**
 * Scaled values live in Postgres `bigint` (< 9.22 × 10^18). With 4–6 decimals, 10^15 units would not
 * fit, so the scaled value is capped too; 10^18 leaves room to add several of them in one balance.
 */
export const MAX_SCALED = 10n ** 18n;

export type QuantityProblem = 'not_a_number' | 'negative' | 'zero' | 'too_many_decimals' | 'too_large';

export interface QuantityOptions {
  /** Allow 0 (e.g. an adjustment target, a package item may not be 0). Default false. */
  allowZero?: boolean;
  /** Allow a leading minus (adjustment deltas). Default false. */
  allowNegative?: boolean;
}

const DECIMAL = /^([+-]?)(\d+)?(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

const MESSAGES: Record<QuantityProblem, (decimals: number) => string> = {
  not_a_number: () => 'must be a decimal number, as a JSON number or a string such as "2.5"',
  negative: () => 'must not be negative',
  zero: () => 'must be greater than zero',
  too_many_decimals: (d) =>
    d === 0 ? 'must be a whole number for this credit type' : `allows at most ${d} decimal place${d === 1 ? '' : 's'}`,
  too_large: (d) => `must be at most ${formatQuantity(maxScaledFor(d), d)}`,
};

/**
 * What a refusal says. A signed value (`allowNegative`: an adjustment's delta) may be below zero: 0 alone is refused,
 * and the message says that rather than "greater than zero".
 */
export const quantityProblemMessage = (
  problem: QuantityProblem,
  decimals: number,
  options: QuantityOptions = {},
): string => (problem === 'zero' && options.allowNegative ? 'must not be zero' : MESSAGES[problem](decimals));

/** The largest scaled value a credit type with `decimals` accepts. */
export function maxScaledFor(decimals: number): Scaled {
  const byUnits = MAX_UNITS * 10n ** BigInt(decimals);
  return byUnits < MAX_SCALED ? byUnits : MAX_SCALED;
}

const POW10 = Array.from({ length: MAX_DECIMALS + 1 }, (_, d) => 10n ** BigInt(d));
const MAX_SCALED_BY_DECIMALS = POW10.map((_, d) => maxScaledFor(d));
/** A whole number of units written plainly: what nearly every use reports ("1", 3). */
const PLAIN_WHOLE = /^[1-9]\d{0,14}$/;

/**
 * Parses a JSON number or decimal string into scaled units.
 * Refuses (never rounds): NaN/Infinity/garbage, negatives, zero, more fractional digits than
 * `decimals`, and values above the maximum.
 */
export function parseQuantity(
  input: unknown,
  decimals: number,
  options: QuantityOptions = {},
): Result<Scaled> & { problem?: QuantityProblem } {
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > MAX_DECIMALS) {
    throw new RangeError(`decimals must be an integer 0..${MAX_DECIMALS}, got ${decimals}`);
  }
  // the common case first, with the same answer the general reading below gives it: a positive whole
  // number of at most 15 digits (this runs for every use of a batch)
  if (
    (typeof input === 'number' && Number.isSafeInteger(input) && input > 0 && input < 1e15) ||
    (typeof input === 'string' && PLAIN_WHOLE.test(input))
  ) {
    const scaled = BigInt(input) * POW10[decimals]!;
    if (scaled <= MAX_SCALED_BY_DECIMALS[decimals]!) return ok(scaled);
  }
  const problem = (p: QuantityProblem) => ({
    ...fail('validation_failed', quantityProblemMessage(p, decimals, options)),
    problem: p,
  });
  const read = readDecimal(input);
  if (typeof read === 'string') return problem(read);
  const { negative, magnitude, fractionDigits } = read;

  if (negative && !options.allowNegative) return problem('negative');
  if (magnitude === 0n && !options.allowZero) return problem('zero');
  if (fractionDigits > decimals) return problem('too_many_decimals');

  const scaled = magnitude * 10n ** BigInt(decimals - fractionDigits);
  if (scaled > maxScaledFor(decimals)) return problem('too_large');
  return ok(negative ? -scaled : scaled);
}

/** A decimal number read exactly: ±magnitude × 10^-fractionDigits, without trailing zeros after the point. */
interface Decimal {
  negative: boolean;
  magnitude: bigint;
  fractionDigits: number;
}

/** A JSON number or decimal string read exactly (parseQuantity's reading), or why it is not one. */
function readDecimal(input: unknown): Decimal | 'not_a_number' | 'too_large' {
  let text: string;
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) return 'not_a_number';
    // Number → shortest round-trip string; exponent forms (1e-7, 1e+21) are handled below.
    text = String(input);
  } else if (typeof input === 'string') {
    text = input.trim();
    if (text.length === 0) return 'not_a_number';
    // a bound on work, far above any number this accepts ("2.5" padded with zeros is still 2.5)
    if (text.length > 1_000) return 'too_large';
  } else if (typeof input === 'bigint') {
    text = input.toString();
  } else {
    return 'not_a_number';
  }

  const match = DECIMAL.exec(text);
  if (!match) return 'not_a_number';
  const [, sign = '', intPart = '', fracPartRaw = '', expRaw] = match;
  if (intPart === '' && fracPartRaw === '') return 'not_a_number';
  // Exponents are accepted only where a JSON number produced them; a string must be plain decimal.
  if (expRaw !== undefined && typeof input === 'string') return 'not_a_number';

  let digits = (intPart + fracPartRaw).replace(/^0+(?=\d)/, '');
  let fractionDigits = fracPartRaw.length - (expRaw ? Number(expRaw) : 0);
  if (fractionDigits < 0) {
    digits += '0'.repeat(-fractionDigits);
    fractionDigits = 0;
  }
  // Trailing zeros after the point carry no precision ("2.50" is "2.5").
  while (fractionDigits > 0 && digits.endsWith('0')) {
    digits = digits.slice(0, -1);
    fractionDigits -= 1;
  }
  if (digits === '') digits = '0';
  const magnitude = BigInt(digits);
  return { negative: sign === '-' && magnitude !== 0n, magnitude, fractionDigits };
}

/**
 * One text for each number a quantity may be written as, whatever its precision: 1, "1" and "1.00" read "1";
 * 0.5 and "0.50" read "5e-1"; 1e-7 and "0.0000001" read "1e-7". What is not a number reads as it was written
 * (trimmed). For comparing quantities no credit type has read (a use refused before its quantity was scaled).
 */
export function canonicalQuantity(input: number | string): string {
  const read = readDecimal(input);
  if (typeof read === 'string') return `?${String(input).trim()}`;
  const sign = read.negative ? '-' : '';
  return read.fractionDigits === 0 ? `${sign}${read.magnitude}` : `${sign}${read.magnitude}e-${read.fractionDigits}`;
}

/** Formats scaled units as the API's decimal string, trailing zeros trimmed: 2500n, 3 → "2.5". */
export function formatQuantity(scaled: Scaled, decimals: number): string {
  const negative = scaled < 0n;
  const abs = negative ? -scaled : scaled;
  if (decimals === 0) return (negative ? '-' : '') + abs.toString();
  const base = 10n ** BigInt(decimals);
  const whole = abs / base;
  const fraction = (abs % base).toString().padStart(decimals, '0').replace(/0+$/, '');
  return (negative ? '-' : '') + whole.toString() + (fraction ? `.${fraction}` : '');
}

/** floor(value × percent / 100), exact, for a non-negative value. */
export function percentOf(value: Scaled, percent: number): Scaled {
  if (!Number.isInteger(percent) || percent < 0)
    throw new RangeError(`percent must be a non-negative integer: ${percent}`);
  if (value < 0n) throw new RangeError(`percentOf takes a non-negative value: ${value}`);
  return (value * BigInt(percent)) / 100n;
}

export const minScaled = (a: Scaled, b: Scaled): Scaled => (a < b ? a : b);
export const maxScaled = (a: Scaled, b: Scaled): Scaled => (a > b ? a : b);
export const sumScaled = (values: Iterable<Scaled>): Scaled => {
  let total = 0n;
  for (const v of values) total += v;
  return total;
};
