import type { JobsOptions } from 'bullmq';
import { z } from 'zod';
import { jobIds } from './job-id.js';
import type { QueueName } from './queue-names.js';
import { REPORT_TYPES } from './report-types.js';
import {
  boundedObject,
  metadataSchema,
  positiveQuantityInput,
  quantityInput,
  refSchema,
  storableText,
} from './schemas.js';

/**
 * The contract of every job of API.md's job table: its queue, its payload schema and its job-id
 * rule. The producer validates and names jobs with it; the service's workers, API, relay and
 * scheduler read the same table (src/jobs/definitions.ts adds what each job answers). Pure zod.
 */
export interface JobContract<S extends z.ZodType = z.ZodType> {
  readonly queue: QueueName;
  readonly schema: S;
  /** The job id of API.md's rule: the same request always gets the same id, so BullMQ keeps one job. */
  jobId(data: z.input<S>): string;
  /** BullMQ options of this job on top of the queues' defaults. */
  readonly options?: JobsOptions;
}

const contract = <S extends z.ZodType>(definition: JobContract<S>): JobContract<S> => definition;

/** How long a hold reserves its units by default (15 minutes), and at most (7 days): DOMAIN.md "Holds". */
export const DEFAULT_HOLD_SECONDS = 900;
export const MAX_HOLD_SECONDS = 7 * 86_400;

/**
 * How far ahead of the clock of whoever checks it a use's occurred_at may be (the clocks of two systems differ), in ms:
 * a use later than that is refused (DOMAIN.md consumption rule 4), by the producer, the API and the worker alike.
 */
export const MAX_FUTURE_SKEW_MS = 5 * 60_000;

/**
 * Set by whoever accepts a request (the API, the producer, the scheduler): the default occurred_at, stable across
 * retries.
 */
const acceptedAt = z.iso.datetime({ offset: true }).optional();

/**
 * The idempotency keys of the consumptions hold captures make (`hold:<hold id>`): a use reported under one would take
 * that consumption's name — (client, key) is unique — and the capture could never be written. Refused to a use.
 */
export const CAPTURE_KEY_PREFIX = 'hold:';

/** A consumption as other systems report it: the body of POST /v1/consumptions and the data of a `consume` job. */
export const consumeData = z.strictObject({
  client: refSchema.meta({ description: 'Client id or external_ref.' }),
  credit_type: refSchema.meta({ description: 'Credit type id or code.' }),
  quantity: positiveQuantityInput,
  idempotency_key: storableText()
    .min(1, 'is required')
    .max(255)
    .refine((key) => !key.startsWith(CAPTURE_KEY_PREFIX), {
      error: `must not start with "${CAPTURE_KEY_PREFIX}": those keys name the consumptions of hold captures`,
    })
    .meta({
      description:
        'Unique per client: a repeat applies nothing twice. Keys starting with `hold:` name the consumptions of ' +
        'hold captures and are refused.',
    }),
  occurred_at: z.iso
    .datetime({ offset: true, error: 'must be an RFC 3339 time' })
    .optional()
    .meta({ description: 'When the use happened; defaults to when it was accepted.' }),
  reference: storableText().max(255).optional(),
  metadata: metadataSchema.optional(),
  mode: z
    .enum(['reject', 'partial'])
    .optional()
    .meta({ description: '`reject` (default): all or nothing. `partial`: take what there is.' }),
  accepted_at: acceptedAt,
});

/** The most uses one `consume-batch` job carries (API.md). */
export const MAX_BATCH_USES = 1_000;

/**
 * One use of a `consume-batch` job: a use as `consumeData` has it, but what is wrong with its quantity (zero, below
 * zero, past 10^15) or its key (`hold:`) fails that use alone at the worker, as a quantity its credit type refuses
 * does (issue 14: one bad use fails alone), instead of the whole job at once.
 */
export const consumeBatchUse = consumeData.extend({
  quantity: quantityInput,
  idempotency_key: storableText().min(1, 'is required').max(255),
});

/**
 * Many uses applied as one job (API.md `consume-batch`): each use is still idempotent by (client,
 * idempotency_key) and answered on its own (readable by id); the job id comes from the caller's
 * batch key, so a retried call makes no second job.
 */
export const consumeBatchData = z.strictObject({
  batch_key: storableText()
    .min(1, 'is required')
    .max(255)
    .meta({ description: "The caller's name for this batch: the same key is one job." }),
  items: z
    .array(consumeBatchUse)
    .min(1, 'give at least one use')
    .max(MAX_BATCH_USES, `at most ${MAX_BATCH_USES.toLocaleString('en')} uses per batch`),
  accepted_at: acceptedAt,
  waited: z
    .array(
      z
        .number()
        .int()
        .min(0)
        .max(MAX_BATCH_USES - 1),
    )
    .max(MAX_BATCH_USES)
    .optional()
    .meta({
      description:
        'Indices (0-based) of the items someone waits for: the job answers each of them whole, in `answers`. ' +
        "The API's carrier of a group's single uses names the `?wait=true` ones; a batch of your own needs none.",
    }),
});

export const reverseData = z.strictObject({
  consumption_id: z.uuid(),
  reason: storableText().max(500).optional(),
  accepted_at: acceptedAt,
});

/** A hold (DOMAIN.md "Holds"): the body of POST /v1/holds and the data of a `hold` job. */
export const holdData = z.strictObject({
  client: refSchema.meta({ description: 'Client id or external_ref.' }),
  credit_type: refSchema.meta({ description: 'Credit type id or code.' }),
  quantity: positiveQuantityInput,
  idempotency_key: storableText()
    .min(1, 'is required')
    .max(255)
    .meta({ description: 'Unique per client among holds: a repeat takes nothing twice.' }),
  expires_in_seconds: z
    .number({ error: 'must be a whole number of seconds' })
    .int('must be a whole number of seconds')
    .min(1, 'must be at least 1')
    .max(MAX_HOLD_SECONDS, `must be at most ${MAX_HOLD_SECONDS} (7 days)`)
    .optional()
    .meta({ description: `How long the units stay reserved; default ${DEFAULT_HOLD_SECONDS} (15 minutes).` }),
  reference: storableText().max(255).optional(),
  metadata: metadataSchema.optional(),
  accepted_at: acceptedAt,
});

/** The capture of a hold: all of it by default, or `quantity` (at most what it holds). */
export const captureData = z.strictObject({
  hold_id: z.uuid(),
  quantity: positiveQuantityInput.optional(),
  accepted_at: acceptedAt,
});

/** The release of a hold: everything back. */
export const releaseData = z.strictObject({ hold_id: z.uuid(), accepted_at: acceptedAt });

const itemsInput = z
  .array(z.strictObject({ credit_type: refSchema, units: positiveQuantityInput }))
  .min(1, 'give at least one item')
  .max(50);

const moneyInput = z.union(
  [z.number().int().min(0).max(1e15), z.string().regex(/^\d{1,16}$/, 'must be a whole number of minor units')],
  { error: 'must be an integer number of minor units (e.g. 1250 for 12.50)' },
);

/** A recharge: one package's worth by default, or the items given; invoiced at recharge_price or the fee given. */
export const rechargeData = z.strictObject({
  subscription_id: z.uuid(),
  items: itemsInput.optional(),
  price: moneyInput.optional(),
  idempotency_key: storableText().min(1, 'is required').max(255),
  /** Set when the subscription's auto-recharge asked for it: counts against max_auto_recharges. */
  auto: z.boolean().optional(),
  accepted_at: acceptedAt,
});

/** A renewal of the period that ends at `period_end`: renewing the same period twice grants nothing. */
export const renewData = z.strictObject({
  subscription_id: z.uuid(),
  /**
   * Read as the instant it names, in one form (`2026-08-01T09:00:00.000Z`), as its job id names it: the same
   * period written another way (`+00:00`, no milliseconds) is the same request, not another payload.
   */
  period_end: z.iso.datetime({ offset: true }).transform((text) => new Date(text).toISOString()),
  /**
   * Renew with the package's current items instead of the subscription's snapshot (overrides the subscription's
   * setting).
   */
  apply_package_changes: z.boolean().optional(),
  accepted_at: acceptedAt,
});

/**
 * Maintenance: `expire`, `notify` (low and expiring-soon events), `verify` (invariants), `cleanup` (retention). `as_of`
 * is read as the instant it names, in one form, as its job id names it (and as the scheduler writes it): the same
 * instant written another way (`+00:00`, another offset) is the same request, not another payload.
 */
export const maintenanceData = z.strictObject({
  as_of: z.iso.datetime({ offset: true }).transform((text) => new Date(text).toISOString()),
});

export { REPORT_TYPES, type ReportType } from './report-types.js';

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

/** Delivers one webhook delivery (one event to one endpoint). */
export const deliverData = z.strictObject({ delivery_id: z.uuid() });

const maintenance = (name: 'expire' | 'notify' | 'verify' | 'cleanup') =>
  contract({
    queue: 'maintenance',
    schema: maintenanceData,
    jobId: (data) => jobIds.maintenance(name, new Date(data.as_of)),
  });

/** The job table. A job's name is its key here, and unique across queues. */
export const JOB_CONTRACTS = {
  consume: contract({
    queue: 'consumption',
    schema: consumeData,
    jobId: (data) => jobIds.consume(data.client, data.idempotency_key),
  }),
  'consume-batch': contract({
    queue: 'consumption',
    schema: consumeBatchData,
    jobId: (data) => jobIds.consumeBatch(data.batch_key),
  }),
  reverse: contract({
    queue: 'consumption',
    schema: reverseData,
    jobId: (data) => jobIds.reverse(data.consumption_id),
  }),
  hold: contract({
    queue: 'consumption',
    schema: holdData,
    jobId: (data) => jobIds.hold(data.client, data.idempotency_key),
  }),
  capture: contract({
    queue: 'consumption',
    schema: captureData,
    jobId: (data) => jobIds.capture(data.hold_id),
  }),
  release: contract({
    queue: 'consumption',
    schema: releaseData,
    jobId: (data) => jobIds.release(data.hold_id),
  }),
  recharge: contract({
    queue: 'recharge',
    schema: rechargeData,
    jobId: (data) => jobIds.recharge(data.subscription_id, data.idempotency_key),
  }),
  renew: contract({
    queue: 'renewal',
    schema: renewData,
    jobId: (data) => jobIds.renewal(data.subscription_id, new Date(data.period_end)),
  }),
  expire: maintenance('expire'),
  notify: maintenance('notify'),
  verify: maintenance('verify'),
  cleanup: maintenance('cleanup'),
  generate: contract({
    queue: 'reports',
    schema: generateReportData,
    jobId: (data) => jobIds.report(data.report_id),
  }),
  deliver: contract({
    queue: 'webhooks',
    schema: deliverData,
    jobId: (data) => jobIds.delivery(data.delivery_id),
  }),
} as const;

export type JobName = keyof typeof JOB_CONTRACTS;
export const JOB_NAMES = Object.keys(JOB_CONTRACTS) as JobName[];
export const isJobName = (name: string): name is JobName => Object.hasOwn(JOB_CONTRACTS, name);

/** What a producer sends for job `N` (before validation). */
export type JobData<N extends JobName> = z.input<(typeof JOB_CONTRACTS)[N]['schema']>;
/** What the handler of job `N` receives (after validation). */
export type JobPayload<N extends JobName> = z.output<(typeof JOB_CONTRACTS)[N]['schema']>;

export type MaintenanceJobName = 'expire' | 'notify' | 'verify' | 'cleanup';
export const MAINTENANCE_JOBS: readonly MaintenanceJobName[] = ['expire', 'notify', 'verify', 'cleanup'];

/** The jobs of one queue, for the worker that serves it. */
export const jobsOfQueue = (queue: QueueName): JobName[] =>
  JOB_NAMES.filter((name) => JOB_CONTRACTS[name].queue === queue);

/** The job id of job `name` with `data` (API.md's rule). */
export const jobIdOf = <N extends JobName>(name: N, data: JobData<N>): string =>
  (JOB_CONTRACTS[name].jobId as (data: JobData<N>) => string)(data);
