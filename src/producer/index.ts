import { Queue, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import type { z } from 'zod';
import { v7 as uuidv7 } from 'uuid';
import {
  consumeData,
  consumeJob,
  generateReportData,
  generateReportJob,
  rechargeData,
  rechargeJob,
  renewData,
  renewJob,
  reverseData,
  reverseJob,
  type ConsumeData,
  type GenerateReportData,
  type RechargeData,
  type RenewData,
  type ReverseData,
} from '../jobs/definitions.js';
import { DEFAULT_JOB_OPTIONS } from '../queue/queues.js';
import type { QueueName } from '../queue/names.js';
import { redisOptions } from '../queue/redis.js';

/**
 * The typed producer other systems import (`import { CreditsProducer } from 'credits/producer'`)
 * to push jobs straight into the queues instead of calling HTTP.
 *
 * It validates each payload with the workers' own schemas before enqueueing (a typo fails here, not
 * later in a worker), stamps `accepted_at` so the default occurred_at does not move when a job is
 * retried, and names each job by the job-id rule of API.md, so that a producer's retry of the same
 * call never makes a second job while the first is still held by Redis — and the worker's
 * idempotency makes a later repeat change nothing.
 *
 * Guarantees: a job is durable once `add` resolves if Redis runs with `appendonly yes` and
 * `maxmemory-policy noeviction` (BullMQ's requirement). Unlike POST /v1/consumptions, nothing is
 * recorded in Postgres first: if Redis loses its data, jobs it held are lost, and the producer must
 * replay what it sent since (safe: replays are idempotent).
 */
export interface CreditsProducerOptions {
  /** A Redis URL, or an ioredis instance the producer may share. */
  connection: string | Redis;
  /** Must match the service's BULL_PREFIX (default `{credits}`). */
  prefix?: string;
  /** Source of `accepted_at`; default the system clock. */
  now?: () => Date;
}

export class ProducerValidationError extends Error {
  constructor(
    readonly code: 'validation_failed',
    readonly errors: Array<{ field: string; message: string }>,
  ) {
    super(`validation_failed: ${errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`);
    this.name = 'ProducerValidationError';
  }
}

export interface Enqueued {
  jobId: string;
}

type ConsumeInput = Omit<ConsumeData, 'accepted_at'>;

export class CreditsProducer {
  private readonly connection: Redis;
  private readonly ownsConnection: boolean;
  private readonly queues = new Map<QueueName, Queue>();
  private readonly prefix: string;
  private readonly now: () => Date;

  constructor(options: CreditsProducerOptions) {
    this.ownsConnection = typeof options.connection === 'string';
    this.connection = typeof options.connection === 'string' ? new Redis(redisOptions(options.connection, 'producer')) : options.connection;
    if (this.ownsConnection) this.connection.on('error', () => {});
    this.prefix = options.prefix ?? '{credits}';
    this.now = options.now ?? (() => new Date());
  }

  /** Reports one use (a `consume` job). */
  async consume(input: ConsumeInput, options: JobsOptions = {}): Promise<Enqueued> {
    const data = this.validate(consumeData, { ...input, accepted_at: this.now().toISOString() });
    const jobId = consumeJob.jobId(data);
    await this.queue(consumeJob.queue).add(consumeJob.name, data, { ...options, jobId });
    return { jobId };
  }

  /** Reports many uses with one round trip (addBulk). All are validated before any is enqueued. */
  async consumeMany(inputs: readonly ConsumeInput[], options: JobsOptions = {}): Promise<Enqueued[]> {
    const acceptedAt = this.now().toISOString();
    const jobs = inputs.map((input, index) => {
      const data = this.validate(consumeData, { ...input, accepted_at: acceptedAt }, `${index}.`);
      return { name: consumeJob.name, data, opts: { ...options, jobId: consumeJob.jobId(data) } };
    });
    await this.queue(consumeJob.queue).addBulk(jobs);
    return jobs.map((j) => ({ jobId: j.opts.jobId }));
  }

  /** Gives a consumption's units back, once (a `reverse` job). */
  async reverse(input: Omit<ReverseData, 'accepted_at'>, options: JobsOptions = {}): Promise<Enqueued> {
    const data = this.validate(reverseData, input);
    const jobId = reverseJob.jobId(data);
    await this.queue(reverseJob.queue).add(reverseJob.name, data, { ...options, jobId });
    return { jobId };
  }

  /** Recharges a subscription (a `recharge` job): one recharge and one invoice per idempotency key. */
  async recharge(input: Omit<RechargeData, 'accepted_at' | 'auto'>, options: JobsOptions = {}): Promise<Enqueued> {
    const data = this.validate(rechargeData, { ...input, accepted_at: this.now().toISOString() });
    const jobId = rechargeJob.jobId(data);
    await this.queue(rechargeJob.queue).add(rechargeJob.name, data, { ...options, jobId });
    return { jobId };
  }

  /** Renews the period of a subscription that ends at `period_end` (a `renew` job): once per period. */
  async renew(input: Omit<RenewData, 'accepted_at'>, options: JobsOptions = {}): Promise<Enqueued> {
    const data = this.validate(renewData, { ...input, accepted_at: this.now().toISOString() });
    const jobId = renewJob.jobId(data);
    await this.queue(renewJob.queue).add(renewJob.name, data, { ...options, jobId });
    return { jobId };
  }

  /**
   * Asks for a report (a `generate` job); the worker creates its run. Give `report_id` to make a
   * retry of this call name the same report; fetch it with GET /v1/reports/{report_id}.
   */
  async generateReport(input: Omit<GenerateReportData, 'report_id'> & { report_id?: string }, options: JobsOptions = {}): Promise<Enqueued & { reportId: string }> {
    const data = this.validate(generateReportData, { format: 'json', ...input, report_id: input.report_id ?? uuidv7() });
    if (!data.type) throw new ProducerValidationError('validation_failed', [{ field: 'type', message: 'is required' }]);
    const jobId = generateReportJob.jobId(data);
    await this.queue(generateReportJob.queue).add(generateReportJob.name, data, { ...options, jobId });
    return { jobId, reportId: data.report_id };
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    if (this.ownsConnection) this.connection.disconnect();
  }

  protected queue(name: QueueName): Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue(name, { connection: this.connection, prefix: this.prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
      // connection errors reach the caller as rejected calls; without a listener BullMQ prints them
      queue.on('error', () => {});
      this.queues.set(name, queue);
    }
    return queue;
  }

  protected validate<S extends z.ZodType>(schema: S, data: unknown, prefix = ''): z.output<S> {
    const parsed = schema.safeParse(data);
    if (!parsed.success) {
      throw new ProducerValidationError(
        'validation_failed',
        parsed.error.issues.map((issue) => ({ field: prefix + (issue.path.map(String).join('.') || '(data)'), message: issue.message })),
      );
    }
    return parsed.data;
  }
}
