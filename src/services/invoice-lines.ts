import { DateTime } from 'luxon';
import type { PackageRow } from '../db/repositories/packages.js';
import type { Period } from '../domain/period.js';
import type { InvoiceLineDraft } from './invoicing.js';

/** "2026-01-31 → 2026-02-29", in the business time zone, as a person reads an invoice. */
export function describePeriod(period: Period, timeZone: string): string {
  const day = (d: Date) => DateTime.fromJSDate(d, { zone: timeZone }).toFormat('yyyy-LL-dd');
  return `${day(period.start)} → ${day(period.end)}`;
}

export function packageInvoiceLine(
  pkg: Pick<PackageRow, 'name' | 'code'>,
  price: bigint,
  period: Period,
  timeZone: string,
): InvoiceLineDraft {
  return { description: `${pkg.name} (${pkg.code}), ${describePeriod(period, timeZone)}`, amount: price };
}
