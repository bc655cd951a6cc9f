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

/** How many minor-unit digits a currency has: USD 2, JPY 0, KWD 3. */
export function minorDigits(currency: string): number {
  return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
}

/** Accepts a non-negative integer of minor units as a JSON number or a digit string. */
export function parseMinor(input: unknown): Result<Minor> {
  let value: bigint;
  if (typeof input === 'number') {
    if (!Number.isSafeInteger(input)) return fail('validation_failed', 'must be an integer number of minor units (e.g. 1250 for 12.50)');
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
