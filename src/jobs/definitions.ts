import { z } from 'zod';
import { boundedObject, metadataSchema, quantityInput, refSchema, storableText } from '../http/schemas/common.js';
import type { QueueName } from '../queue/names.js';
import { jobIds } from './job-id.js';

/**
 * The job registry of API.md's job table: each job's queue, name, payload schema and job-id rule,
 * in one place, so that the producer, the API and the workers cannot disagree. Pure zod: the
 * producer imports this without pulling in the database. Handlers live in one module per job.
 */
export interface JobDefinition<S extends z.ZodType, K = z.input<S>> {
  queue: QueueName;
  name: string;
  schema: S;
  jobId(data: K): string;
}

/** How far in the future an occurred_at may be (clock skew between systems), in ms. */
export const MAX_FUTURE_SKEW_MS = 5 * 60_000;

/** A consumption as other systems report it: the body of POST /v1/consumptions and the data of a `consume` job. */
export const consumeData = z.strictObject({
  client: refSchema.meta({ description: 'Client id or external_ref.' }),
  credit_type: refSchema.meta({ description: 'Credit type id or code.' }),
  quantity: quantityInput,
  idempotency_key: storableText().min(1, 'is required').max(255).meta({ description: 'Unique per client: a repeat applies nothing twice.' }),
  occurred_at: z.iso.datetime({ offset: true, error: 'must be an RFC 3339 time' }).optional().meta({ description: 'When the use happened; defaults to when it was accepted.' }),
  reference: storableText().max(255).optional(),
  metadata: metadataSchema.optional(),
  mode: z.enum(['reject', 'partial']).optional().meta({ description: '`reject` (default): all or nothing. `partial`: take what there is.' }),
  /** Set by the API and the producer when they accept the request: the default occurred_at, stable across retries. */
  accepted_at: z.iso.datetime({ offset: true }).optional(),
});
export type ConsumeData = z.input<typeof consumeData>;

export const consumeJob = {
  queue: 'consumption',
  name: 'consume',
  schema: consumeData,
  jobId: (data: Pick<ConsumeData, 'client' | 'idempotency_key'>) => jobIds.consume(data.client, data.idempotency_key),
} as const;

export const reverseData = z.strictObject({
  consumption_id: z.uuid(),
  reason: storableText().max(500).optional(),
  accepted_at: z.iso.datetime({ offset: true }).optional(),
});
export type ReverseData = z.input<typeof reverseData>;

export const reverseJob = {
  queue: 'consumption',
  name: 'reverse',
  schema: reverseData,
  jobId: (data: Pick<ReverseData, 'consumption_id'>) => jobIds.reverse(data.consumption_id),
} as const;

const itemsInput = z
  .array(z.strictObject({ credit_type: refSchema, units: quantityInput }))
  .min(1, 'give at least one item')
  .max(50);

const moneyInput = z.union([z.number().int().min(0).max(1e15), z.string().regex(/^\d{1,16}$/, 'must be a whole number of minor units')], {
  error: 'must be an integer number of minor units (e.g. 1250 for 12.50)',
});

/** A recharge: one package's worth by default, or the items given; invoiced at recharge_price or the fee given. */
export const rechargeData = z.strictObject({
  subscription_id: z.uuid(),
  items: itemsInput.optional(),
  price: moneyInput.optional(),
  idempotency_key: storableText().min(1, 'is required').max(255),
  /** Set when the subscription's auto-recharge asked for it: counts against max_auto_recharges. */
  auto: z.boolean().optional(),
  accepted_at: z.iso.datetime({ offset: true }).optional(),
});
export type RechargeData = z.input<typeof rechargeData>;

export const rechargeJob = {
  queue: 'recharge',
  name: 'recharge',
  schema: rechargeData,
  jobId: (data: Pick<RechargeData, 'subscription_id' | 'idempotency_key'>) => jobIds.recharge(data.subscription_id, data.idempotency_key),
} as const;

/** A renewal of the period that ends at `period_end`: renewing the same period twice grants nothing. */
export const renewData = z.strictObject({
  subscription_id: z.uuid(),
  period_end: z.iso.datetime({ offset: true }),
  /** Renew with the package's current items instead of the subscription's snapshot (overrides the subscription's setting). */
  apply_package_changes: z.boolean().optional(),
  accepted_at: z.iso.datetime({ offset: true }).optional(),
});
export type RenewData = z.input<typeof renewData>;

export const renewJob = {
  queue: 'renewal',
  name: 'renew',
  schema: renewData,
  jobId: (data: Pick<RenewData, 'subscription_id' | 'period_end'>) => jobIds.renewal(data.subscription_id, new Date(data.period_end)),
} as const;

/** Maintenance: `expire` (balances and subscriptions past their end), `notify` (low and expiring-soon events), `verify` (invariants), `cleanup` (retention). */
export const maintenanceData = z.strictObject({ as_of: z.iso.datetime({ offset: true }) });
export type MaintenanceData = z.input<typeof maintenanceData>;
export const MAINTENANCE_JOBS = ['expire', 'notify', 'verify', 'cleanup'] as const;
export type MaintenanceJobName = (typeof MAINTENANCE_JOBS)[number];

export const maintenanceJob = (name: MaintenanceJobName) =>
  ({
    queue: 'maintenance',
    name,
    schema: maintenanceData,
    jobId: (data: MaintenanceData) => jobIds.maintenance(name, new Date(data.as_of)),
  }) as const;

export const REPORT_TYPES = ['subscriptions', 'balances', 'consumption', 'renewals', 'top_packages', 'expiring'] as const;
export type ReportType = (typeof REPORT_TYPES)[number];

/**
 * Generates a report run. The API creates the run and sends its id; a producer may instead send the
 * whole request with an id of its choosing, and the worker creates the run.
 */
export const generateReportData = z.strictObject({
  report_id: z.uuid(),
  type: z.enum(REPORT_TYPES).optional(),
  params: boundedObject({ maxKeys: 20, maxDepth: 3, maxNodes: 100, maxBytes: 4_096 }).optional(),
  format: z.enum(['json', 'csv']).optional(),
});
export type GenerateReportData = z.input<typeof generateReportData>;

export const generateReportJob = {
  queue: 'reports',
  name: 'generate',
  schema: generateReportData,
  jobId: (data: Pick<GenerateReportData, 'report_id'>) => jobIds.report(data.report_id),
} as const;

/** Delivers one webhook delivery (one event to one endpoint). */
export const deliverData = z.strictObject({ delivery_id: z.uuid() });
export type DeliverData = z.input<typeof deliverData>;

export const deliverJob = {
  queue: 'webhooks',
  name: 'deliver',
  schema: deliverData,
  jobId: (data: DeliverData) => jobIds.delivery(data.delivery_id),
} as const;
