/** DOMAIN.md "Reports": the six types, and the formats a run is stored in. */
export const REPORT_TYPES = [
  'subscriptions',
  'balances',
  'consumption',
  'renewals',
  'top_packages',
  'expiring',
] as const;
export type ReportType = (typeof REPORT_TYPES)[number];

export type ReportFormat = 'json' | 'csv';
