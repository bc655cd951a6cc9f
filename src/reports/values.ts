import { formatQuantity } from '../domain/quantity.js';

/** Readers for database values in report rows (int8 arrives as bigint, numeric as text). */
export const big = (value: unknown): bigint => {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') return BigInt(Math.trunc(value));
  if (typeof value === 'string' && value !== '') return BigInt(value);
  return 0n;
};

export const int = (value: unknown): number => Number(big(value));

export const text = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));

export const iso = (value: unknown): string | null =>
  value instanceof Date ? value.toISOString() : value === null || value === undefined ? null : String(value);

export const bool = (value: unknown): boolean | null => (value === null || value === undefined ? null : Boolean(value));

export const quantity = (value: unknown, decimals: unknown): string => formatQuantity(big(value), Number(decimals));

/** `part` of `whole` in percent with one decimal (rounded half up), exact; null when whole is 0. */
export function percent(part: bigint, whole: bigint): number | null {
  if (whole <= 0n) return null;
  const tenths = (part * 1000n + whole / 2n) / whole;
  return Number(tenths) / 10;
}
