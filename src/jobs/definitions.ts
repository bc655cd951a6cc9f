import { z } from 'zod';
import { metadataSchema, quantityInput, refSchema } from '../http/schemas/common.js';
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
  idempotency_key: z.string().min(1, 'is required').max(255).meta({ description: 'Unique per client: a repeat applies nothing twice.' }),
  occurred_at: z.iso.datetime({ offset: true, error: 'must be an RFC 3339 time' }).optional().meta({ description: 'When the use happened; defaults to when it was accepted.' }),
  reference: z.string().max(255).optional(),
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
  reason: z.string().max(500).optional(),
  accepted_at: z.iso.datetime({ offset: true }).optional(),
});
export type ReverseData = z.input<typeof reverseData>;

export const reverseJob = {
  queue: 'consumption',
  name: 'reverse',
  schema: reverseData,
  jobId: (data: Pick<ReverseData, 'consumption_id'>) => jobIds.reverse(data.consumption_id),
} as const;
