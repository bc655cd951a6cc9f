import { z } from 'zod';
import type { ClientRow } from '../db/repositories/clients.js';
import type { CreditTypeRow } from '../db/repositories/credit-types.js';
import type { InvoiceWithLines } from '../db/repositories/invoices.js';
import { toCreditTypeBrief } from '../domain/credit-type-brief.js';
import { minorToJson } from '../domain/money.js';
import { formatQuantity } from '../domain/quantity.js';
import { creditTypeBrief } from './credit-type.js';

export const invoiceView = z
  .object({
    id: z.uuid(),
    number: z.string(),
    client: z.object({ id: z.uuid(), external_ref: z.string() }),
    subscription_id: z.uuid().nullable(),
    kind: z.enum(['subscription', 'renewal', 'recharge']),
    status: z.enum(['issued', 'paid', 'void']),
    currency: z.string(),
    total: z.number().int(),
    lines: z.array(
      z.object({
        description: z.string(),
        credit_type: creditTypeBrief.nullable(),
        quantity: z.string().nullable(),
        amount: z.number().int(),
      }),
    ),
    period_start: z.string().nullable(),
    period_end: z.string().nullable(),
    issued_at: z.string(),
    paid_at: z.string().nullable(),
    voided_at: z.string().nullable(),
    void_reason: z.string().nullable(),
  })
  .meta({ id: 'Invoice' });
export type InvoiceView = z.infer<typeof invoiceView>;

export function toInvoiceView(
  row: InvoiceWithLines,
  client: ClientRow,
  creditTypes: ReadonlyMap<string, CreditTypeRow>,
): InvoiceView {
  return {
    id: row.id,
    number: row.number,
    client: { id: client.id, external_ref: client.external_ref },
    subscription_id: row.subscription_id,
    kind: row.kind,
    status: row.status,
    currency: row.currency,
    total: minorToJson(row.total),
    lines: row.lines.map((line) => {
      const creditType = line.credit_type_id ? creditTypes.get(line.credit_type_id) : undefined;
      return {
        description: line.description,
        credit_type: creditType ? toCreditTypeBrief(creditType) : null,
        quantity: creditType && line.quantity !== null ? formatQuantity(line.quantity, creditType.decimals) : null,
        amount: minorToJson(line.amount),
      };
    }),
    period_start: row.period_start?.toISOString() ?? null,
    period_end: row.period_end?.toISOString() ?? null,
    issued_at: row.issued_at.toISOString(),
    paid_at: row.paid_at?.toISOString() ?? null,
    voided_at: row.voided_at?.toISOString() ?? null,
    void_reason: row.void_reason,
  };
}
