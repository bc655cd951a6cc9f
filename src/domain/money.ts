import { fail, ok, type Result } from './result.js';

/** Money is a bigint of the currency's minor units (cents, fils, yen); never a float. */
export type Minor = bigint;

/** Keeps every amount, and sums of a few of them, exact as a JSON number (< 2^53). */
export const MAX_MINOR = 10n ** 15n;

let knownCurrencies: Set<string> | undefined;

/** ISO 4217 codes as the runtime's ICU knows them. */
export function isCurrency(code: string): boolean {
  knownCurrencies ??= new Set(Intl.supportedValuesOf('currency'));
  return /^[A-Z]{3}$/.test(code) && knownCurrencies.has(code);
}

/**
 * ISO 4217 minor units that are not 2. (The runtime's CLDR data gives display digits instead, which
 * differ for HUF, IDR, IQD and others, so the standard's table is written here.)
 */
const MINOR_DIGITS: Record<string, number> = {
  ...Object.fromEntries(
    [
      'BIF',
      'CLP',
      'DJF',
      'GNF',
      'ISK',
      'JPY',
      'KMF',
      'KRW',
      'PYG',
      'RWF',
      'UGX',
      'UYI',
      'VND',
      'VUV',
      'XAF',
      'XOF',
      'XPF',
    ].map((c) => [c, 0]),
  ),
  ...Object.fromEntries(['BHD', 'IQD', 'JOD', 'KWD', 'LYD', 'OMR', 'TND'].map((c) => [c, 3])),
  CLF: 4,
  UYW: 4,
  // funds and precious metals have no minor unit
  ...Object.fromEntries(
    ['XAG', 'XAU', 'XBA', 'XBB', 'XBC', 'XBD', 'XDR', 'XPD', 'XPT', 'XSU', 'XTS', 'XUA', 'XXX'].map((c) => [c, 0]),
  ),
};

/** How many minor-unit digits a currency has (ISO 4217): USD 2, JPY 0, KWD 3. */
export function minorDigits(currency: string): number {
  return MINOR_DIGITS[currency] ?? 2;
}

/** Accepts a non-negative integer of minor units as a JSON number or a digit string. */
export function parseMinor(input: unknown): Result<Minor> {
  let value: bigint;
  if (typeof input === 'number') {
    if (!Number.isSafeInteger(input))
      return fail('validation_failed', 'must be an integer number of minor units (e.g. 1250 for 12.50)');
    value = BigInt(input);
  } else if (typeof input === 'string' && /^\d{1,16}$/.test(input.trim())) {
    value = BigInt(input.trim());
  } else if (typeof input === 'bigint') {
    value = input;
  } else {
    return fail('validation_failed', 'must be an integer number of minor units (e.g. 1250 for 12.50)');
  }
  if (value < 0n) return fail('validation_failed', 'must not be negative');
  if (value > MAX_MINOR) return fail('validation_failed', `must be at most ${MAX_MINOR}`);
  return ok(value);
}

/** For pages a person reads: 1250n USD → "12.50 USD". The API itself always answers minor units. */
export function formatMoney(amount: Minor, currency: string): string {
  const digits = minorDigits(currency);
  const negative = amount < 0n;
  const abs = negative ? -amount : amount;
  const text =
    digits === 0
      ? abs.toString()
      : `${abs / 10n ** BigInt(digits)}.${(abs % 10n ** BigInt(digits)).toString().padStart(digits, '0')}`;
  return `${negative ? '-' : ''}${text} ${currency}`;
}

/** JSON carries money as an integer; MAX_MINOR keeps that exact. */
export const minorToJson = (amount: Minor): number => Number(amount);
