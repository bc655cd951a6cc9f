import { randomUUID } from 'node:crypto';
import { Job, type JobsOptions, Queue } from 'bullmq';
import type { z } from 'zod';
import { plainDecimal, requestOf } from './canonical-json.js';
import {
  consumeBatchUse,
  JOB_CONTRACTS as JOBS,
  type JobData,
  type JobName,
  jobIdOf,
  MAX_BATCH_USES,
  MAX_FUTURE_SKEW_MS,
  type ReportType,
} from './contracts.js';
import { jobOptions } from './job-options.js';
import type { QueueName } from './queue-names.js';
import { createRedis, type RedisClient, type RedisTarget } from './redis.js';

/**
 * The typed producer other systems import (`import { CreditsProducer } from '@credits/producer'`)
 * to push jobs straight into the queues instead of calling HTTP.
 *
 * It validates each payload with the workers' own schemas before enqueueing (a typo fails here, not
 * later in a worker), stamps `accepted_at` so the default occurred_at does not move when a job is
 * retried (and so that its job settles a request the API accepted under its job id meanwhile), and
 * names each job by the job-id rule of API.md, so that a producer's retry of the same
 * call never makes a second job while the first is still held by Redis — and the worker's
 * idempotency makes a later repeat change nothing. Another payload under a key whose job Redis holds
 * throws ProducerConflictError (read back after each add), never resolves as if it were enqueued; a job of the
 * same payload that Redis holds failed for good is run again.
 *
 * Guarantees: a job is durable once `add` resolves if Redis runs with `appendonly yes` and
 * `maxmemory-policy noeviction` (BullMQ's requirement). Unlike POST /v1/consumptions, nothing is
 * recorded in Postgres first: if Redis loses its data, jobs it held are lost, and the producer must
 * replay what it sent since (safe: replays are idempotent).
 */
export interface CreditsProducerOptions {
  /**
   * A Redis URL, `{ url, clusterNodes }` for a Redis Cluster, or an ioredis instance (Redis or
   * Cluster) the producer may share.
   */
  connection: string | RedisTarget | RedisClient;
  /** Must match the service's BULL_PREFIX (default `{credits}`). */
  prefix?: string;
  /** Source of `accepted_at`; default the system clock. */
  now?: () => Date;
  /** Tries of a job that fails unexpectedly; match the service's JOB_ATTEMPTS (default 8). */
  attempts?: number;
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

/**
 * A job id taken, while Redis still holds its job, by a job of another payload. The add changed nothing for it; the
 * payload Redis holds is the one applied. `code` is what the service answers the same request with whichever way it
 * comes (over HTTP, or at the worker once Redis has forgotten the first job): `idempotency_conflict` for an
 * idempotency key (or a batch key) used again for another request, `conflict` for a capture of another quantity than
 * the hold's capture (its job id names the hold: another quantity is another capture, which a hold refuses).
 */
export class ProducerConflictError extends Error {
  constructor(
    message: string,
    readonly code: 'idempotency_conflict' | 'conflict' = 'idempotency_conflict',
  ) {
    super(`${code}: ${message}`);
    this.name = 'ProducerConflictError';
  }
}

export interface Enqueued {
  jobId: string;
}

type ConsumeInput = Omit<JobData<'consume'>, 'accepted_at'>;

export class CreditsProducer {
  private readonly connection: RedisClient;
  private readonly ownsConnection: boolean;
  private readonly queues = new Map<QueueName, Queue>();
  private readonly prefix: string;
  private readonly now: () => Date;
  private readonly defaultJobOptions: JobsOptions;

  constructor(options: CreditsProducerOptions) {
    const given = options.connection;
    const isTarget = (c: typeof given): c is string | RedisTarget =>
      typeof c === 'string' || (typeof (c as RedisTarget).url === 'string' && !('status' in c));
    this.ownsConnection = isTarget(given);
    // a connection made here reports its errors through the calls that fail (createRedis listens)
    this.connection = isTarget(given) ? createRedis(given, 'producer') : given;
    this.prefix = options.prefix ?? '{credits}';
    this.now = options.now ?? (() => new Date());
    this.defaultJobOptions = jobOptions(options.attempts);
  }

  /** Reports one use (a `consume` job). */
  async consume(input: ConsumeInput, options: JobsOptions = {}): Promise<Enqueued> {
    return this.add('consume', { ...input, accepted_at: this.now().toISOString() }, options);
  }

  /**
   * Reports many uses as `consume-batch` jobs of at most 1,000 uses each, with one addBulk:
   * the workers apply a batch's uses many per transaction, each use still idempotent by (client,
   * idempotency_key) and readable by id. All are validated before any is enqueued — their shape only: a use
   * naming a client or credit type that does not exist (`not_found`), or a quantity its credit type refuses
   * (`validation_failed`), fails alone at the worker, named in the batch job's `failed`, as POST
   * /v1/consumptions/batch fails it alone. `batchKey` names the batches (`<key>` for the first 1,000 uses,
   * `<key>-2`, … after): a retried call with the same key makes no second job, and the same key with other uses
   * throws ProducerConflictError while Redis holds its job; without one each call's batches are new (their uses
   * stay idempotent).
   */
  async consumeMany(
    inputs: readonly ConsumeInput[],
    options: JobsOptions & { batchKey?: string } = {},
  ): Promise<Array<Enqueued & { uses: number }>> {
    const { batchKey, ...jobOptions } = options;
    const acceptedAt = this.now().toISOString();
    // each use checked on its own first, so that a malformed one is named by its place in `inputs`; a quantity
    // or key that is wrong whatever the credit type is the worker's to fail alone (consumeBatchUse)
    const uses = inputs.map((input, index) => this.validate(consumeBatchUse, input, `${index}.`));
    const key = batchKey ?? randomUUID();
    const jobs: Array<ReturnType<CreditsProducer['job']>> = [];
    for (let start = 0, n = 1; start < uses.length; start += MAX_BATCH_USES, n += 1) {
      const items = uses.slice(start, start + MAX_BATCH_USES);
      jobs.push(
        this.job(
          'consume-batch',
          { batch_key: n === 1 ? key : `${key}-${n}`, items, accepted_at: acceptedAt },
          jobOptions,
        ),
      );
    }
    const queue = this.queue(JOBS['consume-batch'].queue);
    // A batch key names its jobs: where Redis already holds a job of the key (an earlier call's or a
    // concurrent one's) with other uses, the add does nothing for it and these uses would never be applied.
    // Read back after the add, which catches both: refused. Of a call of up to 1,000 uses nothing was added;
    // of a longer one, later jobs that were new may have been (their uses stay idempotent, so the caller's
    // retry under another key applies none of them twice). A retry of the same call finds its own uses.
    await queue.addBulk(jobs);
    if (batchKey !== undefined) await refuseOtherPayloads(this.connection, queue, jobs, `batch key "${batchKey}"`);
    return jobs.map((j, i) => ({
      jobId: j.opts.jobId,
      uses: Math.min(MAX_BATCH_USES, inputs.length - i * MAX_BATCH_USES),
    }));
  }

  /**
   * Reports many uses as one `consume` job each, with one addBulk: for a caller that wants a job per
   * use (its own job id, its own result in Redis). All are validated first. A use whose key Redis holds
   * with another payload throws ProducerConflictError, naming it; the call's others are enqueued.
   */
  async consumeEach(inputs: readonly ConsumeInput[], options: JobsOptions = {}): Promise<Enqueued[]> {
    const acceptedAt = this.now().toISOString();
    const jobs = inputs.map((input, index) =>
      this.job('consume', { ...input, accepted_at: acceptedAt }, options, `${index}.`),
    );
    const queue = this.queue(JOBS.consume.queue);
    await queue.addBulk(jobs);
    await refuseOtherPayloads(this.connection, queue, jobs);
    return jobs.map((j) => ({ jobId: j.opts.jobId }));
  }

  /**
   * Reserves units now for a use whose size is known later (a `hold` job). Its accepted_at is set
   * here, so its expiry stays the same whenever a worker takes it.
   */
  async hold(input: Omit<JobData<'hold'>, 'accepted_at'>, options: JobsOptions = {}): Promise<Enqueued> {
    return this.add('hold', { ...input, accepted_at: this.now().toISOString() }, options);
  }

  /** Turns a hold's units into a consumption, all or `quantity` of them, once (a `capture` job). */
  async capture(input: Omit<JobData<'capture'>, 'accepted_at'>, options: JobsOptions = {}): Promise<Enqueued> {
    return this.add('capture', { ...input, accepted_at: this.now().toISOString() }, options);
  }

  /** Gives a hold's units back, once (a `release` job). */
  async release(input: Omit<JobData<'release'>, 'accepted_at'>, options: JobsOptions = {}): Promise<Enqueued> {
    return this.add('release', { ...input, accepted_at: this.now().toISOString() }, options);
  }

  /** Gives a consumption's units back, once (a `reverse` job). */
  async reverse(input: Omit<JobData<'reverse'>, 'accepted_at'>, options: JobsOptions = {}): Promise<Enqueued> {
    return this.add('reverse', { ...input, accepted_at: this.now().toISOString() }, options);
  }

  /** Recharges a subscription (a `recharge` job): one recharge and one invoice per idempotency key. */
  async recharge(
    input: Omit<JobData<'recharge'>, 'accepted_at' | 'auto'>,
    options: JobsOptions = {},
  ): Promise<Enqueued> {
    return this.add('recharge', { ...input, accepted_at: this.now().toISOString() }, options);
  }

  /** Renews the period of a subscription that ends at `period_end` (a `renew` job): once per period. */
  async renew(input: Omit<JobData<'renew'>, 'accepted_at'>, options: JobsOptions = {}): Promise<Enqueued> {
    return this.add('renew', { ...input, accepted_at: this.now().toISOString() }, options);
  }

  /**
   * Asks for a report (a `generate` job); the worker creates its run. Give `report_id` to make a
   * retry of this call name the same report; fetch it with GET /v1/reports/{report_id}.
   */
  async generateReport(
    input: Omit<JobData<'generate'>, 'report_id' | 'type'> & { type: ReportType; report_id?: string },
    options: JobsOptions = {},
  ): Promise<Enqueued & { reportId: string }> {
    // a caller without types may still leave it out
    if (!input.type)
      throw new ProducerValidationError('validation_failed', [{ field: 'type', message: 'is required' }]);
    const reportId = input.report_id ?? randomUUID();
    const { jobId } = await this.add('generate', { format: 'json', ...input, report_id: reportId }, options);
    return { jobId, reportId };
  }

  /**
   * Any job of API.md's job table by name, validated with the workers' own schema and named by its
   * job-id rule. The methods above are this with the defaults each job wants (`accepted_at`).
   */
  async add<N extends JobName>(name: N, data: JobData<N>, options: JobsOptions = {}): Promise<Enqueued> {
    const job = this.job(name, data, options);
    const queue = this.queue(JOBS[name].queue);
    await queue.add(job.name, job.data, job.opts);
    try {
      await refuseOtherPayloads(this.connection, queue, [job]);
    } catch (error) {
      const judged = error instanceof ProducerConflictError ? await this.captureOfUnknownSize(queue, job) : undefined;
      if (!judged) throw error;
      return judged;
    }
    return { jobId: job.opts.jobId };
  }

  /**
   * A capture whose job Redis holds under its hold's id with a quantity where this one names none, or none where this
   * one names one: all the hold held and a quantity are the same capture when that quantity is the hold's size, which
   * the producer does not know (the worker does: domain/hold.ts `repeatsCapture`). Such a capture is added under an id
   * naming its quantity (`capture|<hold>|<quantity>`, `…|all` for none), and the worker judges it: the first
   * capture's answer (`replayed`) when it asks what that one took, a job failed with `conflict` otherwise — what
   * POST /v1/holds/{id}/capture answers either way. Undefined for any other clash (a quantity against another quantity
   * is another capture, as the producer can tell: thrown as it was).
   */
  private async captureOfUnknownSize(
    queue: Queue,
    job: { name: string; data: unknown; opts: JobsOptions & { jobId: string } },
  ): Promise<Enqueued | undefined> {
    if (job.name !== 'capture') return undefined;
    const stored = await this.connection.hget(queue.toKey(job.opts.jobId), 'data');
    if (typeof stored !== 'string') return undefined;
    const quantityOf = (data: unknown) => (data as { quantity?: string | number }).quantity;
    const asked = quantityOf(job.data);
    if ((quantityOf(JSON.parse(stored)) === undefined) === (asked === undefined)) return undefined;
    const sized = { ...job, opts: { ...job.opts, jobId: captureJobIdOfSize(job.opts.jobId, asked) } };
    await queue.add(sized.name, sized.data, sized.opts);
    await refuseOtherPayloads(this.connection, queue, [sized]);
    return { jobId: sized.opts.jobId };
  }

  private job<N extends JobName>(name: N, data: JobData<N>, options: JobsOptions, fieldPrefix = '') {
    const definition = JOBS[name];
    const valid = this.validate(definition.schema, data, fieldPrefix);
    // a use dated ahead of this clock by more than the skew allowed is refused by every worker: say so here, where
    // the caller is still listening (a batch's uses are the worker's to fail one by one, like their quantities)
    const occurredAt = (valid as { occurred_at?: unknown }).occurred_at;
    if (typeof occurredAt === 'string' && Date.parse(occurredAt) > this.now().getTime() + MAX_FUTURE_SKEW_MS) {
      throw new ProducerValidationError('validation_failed', [
        { field: `${fieldPrefix}occurred_at`, message: 'is in the future' },
      ]);
    }
    // named by the payload as it is enqueued and as the worker reads it (a reference trimmed, an instant in one
    // form), not as it was written: the same request written otherwise is one job, and another payload under its key
    // meets the first one's job (ProducerConflictError) instead of slipping past it under an id of its own
    const jobId = jobIdOf(name, valid as JobData<N>);
    return { name, data: valid, opts: { ...definition.options, ...options, jobId } };
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    if (this.ownsConnection) this.connection.disconnect();
  }

  protected queue(name: QueueName): Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue(name, {
        connection: this.connection,
        prefix: this.prefix,
        defaultJobOptions: this.defaultJobOptions,
      });
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
        parsed.error.issues.map((issue) => ({
          field: prefix + (issue.path.map(String).join('.') || '(data)'),
          message: issue.message,
        })),
      );
    }
    return parsed.data;
  }
}

/**
 * Jobs of which one failed for good is replaced by a call of another payload under its id (refuseOtherPayloads): a
 * closing, whose id names its hold, not a caller's key; a use, whose failure changed nothing and left its key free
 * (a client or credit type that did not exist, a quantity or time refused: the use corrected is sent under it).
 */
const REPLACED_WHEN_FAILED: ReadonlySet<string> = new Set(['capture', 'release', 'consume']);

/**
 * Jobs whose id names the thing they act on, not a caller's key: another payload under it is another action on that
 * thing — a second capture of one hold, of another quantity — which the service refuses as `conflict` (domain/hold.ts
 * `capturedOtherwise`, over HTTP and at the worker alike), not as a key reused.
 */
const NAMED_BY_SUBJECT: ReadonlySet<string> = new Set(['capture']);

/** The id of a capture that the job Redis holds under its hold's id leaves undecided (captureOfUnknownSize). */
const captureJobIdOfSize = (jobId: string, quantity: string | number | undefined): string =>
  `${jobId}|${quantity === undefined ? 'all' : encodeURIComponent(String(plainDecimal(quantity)))}`;

/**
 * Throws ProducerConflictError when Redis holds one of these jobs' ids with another payload. A job id is the
 * request's key (API.md's job-id rule): where Redis already holds a job of that id, BullMQ's add does nothing and
 * resolves all the same, so without this read the other payload would never be applied and its caller never told.
 * Read back after the add, which catches an earlier call's job and a concurrent call's alike; one round trip for
 * all of them (the reads are pipelined on the producer's connection, the queues' own; a job's key shares the
 * prefix's hash tag: one slot in a Redis Cluster). A job gone already (completed and trimmed) cannot be compared:
 * the worker's own check of the request's fingerprint answers that one with `idempotency_conflict` (a capture of a
 * captured hold, of another quantity: `conflict`), the code this error carries for it.
 *
 * A job of this payload that Redis holds failed for good (an earlier call's: a reversal taken before its
 * consumption was applied) is run again, its attempts counted afresh: the add did nothing for it either, and the
 * call would resolve while nothing ran (a job applies nothing twice).
 */
async function refuseOtherPayloads(
  connection: RedisClient,
  queue: Queue,
  jobs: ReadonlyArray<{ name: string; data: unknown; opts: { jobId: string } }>,
  keyName?: string,
): Promise<void> {
  const held = await Promise.all(
    jobs.map((j) =>
      Promise.all([
        connection.hget(queue.toKey(j.opts.jobId), 'data'),
        connection.zscore(queue.toKey('failed'), j.opts.jobId),
      ]),
    ),
  );
  const other = jobs.map((j, i) => {
    const [stored] = held[i]!;
    return typeof stored === 'string' && requestOf(j.name, JSON.parse(stored)) !== requestOf(j.name, j.data);
  });
  // A closing's job id names its hold, not the caller's request: a capture the worker refused (more than the hold
  // holds) failed under it and changed nothing, and no later capture of that hold could ever run. Such a failed job
  // of another payload is replaced, as POST /v1/holds/{id}/capture does (forgetFailedJob); once the hold is closed,
  // a closing of another payload completes or fails on the hold's own state, and stays a conflict here. A use the
  // worker refused for good changed nothing and left its key free, as the API has it: the use corrected replaces it
  // (the worker's own check of the key's fingerprint still refuses another payload under a key a use was applied)
  const replaced = await Promise.all(
    jobs.map(async (j, i) => {
      if (!other[i] || held[i]![1] === null || !REPLACED_WHEN_FAILED.has(j.name)) return false;
      await queue.remove(j.opts.jobId);
      await queue.add(j.name, j.data, j.opts);
      return true;
    }),
  );
  // read back once more: a concurrent call may have added its own payload between the remove and the add
  const readAgain = jobs.filter((_, i) => replaced[i]);
  if (readAgain.length > 0) await refuseOtherPayloads(connection, queue, readAgain, keyName);
  for (const [i, r] of replaced.entries()) if (r) other[i] = false;
  await Promise.all(
    jobs.map(async (j, i) => {
      if (other[i] || replaced[i] || held[i]![1] === null) return;
      const job = await Job.fromId(queue, j.opts.jobId);
      await job?.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true }).catch(async (error) => {
        // run again meanwhile by a concurrent call: nothing left to do; still failed: the call fails
        if ((await queue.getJobState(j.opts.jobId)) === 'failed') throw error;
      });
    }),
  );
  const index = other.indexOf(true);
  const clash = jobs[index];
  if (!clash) return;
  const others =
    jobs.length > 1
      ? ` (job ${index + 1} of the call's ${jobs.length}: the others are enqueued, a retry of the call adds none twice)`
      : '';
  if (NAMED_BY_SUBJECT.has(clash.name)) {
    throw new ProducerConflictError(
      `job ${clash.opts.jobId} carries another capture of that hold: a hold is captured once, at one quantity${others}`,
      'conflict',
    );
  }
  throw new ProducerConflictError(
    `${keyName ?? `the key of job ${clash.opts.jobId}`} was used with another payload: ` +
      `job ${clash.opts.jobId} carries that one${others}`,
  );
}
