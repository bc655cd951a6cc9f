/**
 * Job ids of API.md's job table. BullMQ refuses a custom job id containing ':' (unless it splits into
 * exactly three parts, for old repeatable jobs), so the parts are joined with '|' instead, and free
 * text (client refs, idempotency keys) is percent-encoded: two different requests can never share an
 * id, and the id stays readable in Bull Board. Times are ISO 8601 in basic format (no ':').
 */
const part = (text: string): string => encodeURIComponent(text);

export const compactTime = (at: Date): string => at.toISOString().replace(/[-:]/g, '');

export const jobIds = {
  consume: (client: string, idempotencyKey: string) => `consume|${part(client)}|${part(idempotencyKey)}`,
  consumeBatch: (batchKey: string) => `consume-batch|${part(batchKey)}`,
  reverse: (consumptionId: string) => `reverse|${part(consumptionId)}`,
  hold: (client: string, idempotencyKey: string) => `hold|${part(client)}|${part(idempotencyKey)}`,
  capture: (holdId: string) => `capture|${part(holdId)}`,
  release: (holdId: string) => `release|${part(holdId)}`,
  recharge: (subscriptionId: string, idempotencyKey: string) =>
    `recharge|${part(subscriptionId)}|${part(idempotencyKey)}`,
  renewal: (subscriptionId: string, periodEnd: Date) => `renewal|${part(subscriptionId)}|${compactTime(periodEnd)}`,
  maintenance: (name: 'expire' | 'verify' | 'notify' | 'cleanup', asOf: Date) => `${name}|${compactTime(asOf)}`,
  report: (reportId: string) => `report|${part(reportId)}`,
  delivery: (deliveryId: string) => `delivery|${part(deliveryId)}`,
} as const;
