import type { Link, SpanContext } from '@opentelemetry/api';
import type { Job } from 'bullmq';
import type { AppContext } from '../app-context.js';
import { failCommand } from '../commands/index.js';
import { isDataException, isRowCausedDbError, isTransientDbError } from '../db/knex.js';
import { type Failure, fail, ok, type Result } from '../domain/result.js';
import { ConcurrentDuplicateError } from '../jobs/batch-apply.js';
import { type JobName, jobsOfQueue } from '../jobs/definitions.js';
import { type BatchItem, isBatched, isFanOut, REGISTRY, type RegisteredJob } from '../jobs/registry.js';
import { consumptionBatchSeconds, consumptionBatchSize } from '../metrics.js';
import type { QueueName } from '../queue/names.js';
import { problemsText, zodProblems } from '../schemas/problems.js';
import { stageTimes } from '../stage-times.js';
import { activeSpanContext, inSpan } from '../telemetry.js';
import { MicroBatcher } from './micro-batcher.js';

const IMMEDIATE_RETRIES = 3;

/** FNV-1a: a cheap, stable spread of a lane key (a client reference) over the lanes (the batcher takes it modulo). */
export function laneHash(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

type AnyResult = Result<unknown>;

/** The span of the job each batched item came from (tracing on): a batch links to every one of them. */
const jobSpans = new WeakMap<object, SpanContext>();
const linksOf = (items: readonly object[]): Link[] =>
  items.flatMap((item) => {
    const spanContext = jobSpans.get(item);
    return spanContext ? [{ context: spanContext }] : [];
  });

/** The micro-batcher of a batched job, with the retry and isolation rules of the hot path. */
function batcherFor(app: AppContext, entry: RegisteredJob<JobName>) {
  if (!isBatched(entry)) throw new Error(`job ${entry.name} is not batched`);
  const { apply, laneOf } = entry.batch as {
    apply(app: AppContext, items: ReadonlyArray<BatchItem<JobName>>): Promise<AnyResult[]>;
    laneOf(data: unknown): string;
  };
  const applyRetried = async (items: ReadonlyArray<BatchItem<JobName>>): Promise<AnyResult[]> => {
    // a deadlock or serialization failure is retried at once a few times before the jobs go back to BullMQ's backoff
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await inSpan(
          `${entry.name} batch`,
          {
            attributes: { 'credits.batch.size': items.length, 'credits.batch.attempt': attempt },
            links: linksOf(items),
          },
          () => apply(app, items),
        );
      } catch (error) {
        const transient = error instanceof ConcurrentDuplicateError || isTransientDbError(error);
        if (!transient || attempt >= IMMEDIATE_RETRIES) throw error;
        app.log.warn(
          { err: error, attempt, size: items.length, job: entry.name },
          'batch failed transiently; retrying',
        );
        await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * attempt));
      }
    }
  };
  return new MicroBatcher<BatchItem<JobName>, AnyResult>({
    maxSize: app.config.CONSUMPTION_BATCH_SIZE,
    maxWaitMs: app.config.CONSUMPTION_BATCH_WAIT_MS,
    maxInFlight: app.config.CONSUMPTION_BATCHES_IN_FLIGHT,
    lanes: app.config.CONSUMPTION_LANES,
    laneOf: (item) => laneHash(laneOf(item.data)),
    apply: async (items) => {
      if (!stageTimes) return applyRetried(items);
      // debug (STAGE_TIMES_DIR): when each job's batch began and ended
      for (const item of items) stageTimes.mark(item.jobId, 'batch_start');
      try {
        return await applyRetried(items);
      } finally {
        for (const item of items) stageTimes.mark(item.jobId, 'batch_done');
      }
    },
    // a batch that one of its jobs made fail (a value refused, a constraint broken) is split until
    // that job is alone: its neighbours are applied, it fails by itself. An outage, a lock conflict
    // (retried above) or a bug would fail every half alike, so those are not split.
    isolate: (error) => !(error instanceof ConcurrentDuplicateError) && isRowCausedDbError(error),
    onBatch: (size, ms, error) => {
      consumptionBatchSize.observe(size);
      consumptionBatchSeconds.observe(ms / 1000);
      if (error) app.log.error({ err: error, size, job: entry.name }, 'batch failed');
    },
  });
}

export interface QueueProcessor {
  process(job: Job): Promise<unknown>;
  /** Resolves when nothing waits in a batcher (graceful shutdown). */
  drain(): Promise<void>;
}

/**
 * The processor of one queue, driven by the registry: finds the job's entry by name, validates its
 * data with the entry's schema (an invalid job fails at once, without retries, with
 * `validation_failed` in its reason), runs its handler — or hands it to the entry's micro-batcher —
 * and answers its result. An expected failure is stored and fails the job for good
 * (src/commands); anything else (Postgres or Redis down) is thrown so that BullMQ retries it.
 */
export function queueProcessor(app: AppContext, queue: QueueName): QueueProcessor {
  const names = jobsOfQueue(queue);
  const batchers = new Map<JobName, MicroBatcher<BatchItem<JobName>, AnyResult>>();
  for (const name of names) {
    const entry = REGISTRY[name] as RegisteredJob<JobName>;
    if (isBatched(entry)) batchers.set(name, batcherFor(app, entry));
  }

  /**
   * One item to a micro-batcher: its own outcome, a value Postgres refuses being its failure (recorded as its job
   * records one: `failedAlone`), not a retry loop.
   */
  const batched = (name: JobName, batcher: MicroBatcher<BatchItem<JobName>, AnyResult>, item: BatchItem<JobName>) => {
    const spanContext = activeSpanContext();
    if (spanContext) jobSpans.set(item, spanContext);
    return batcher.submit(item).catch(async (error: unknown): Promise<Failure> => {
      if (!isDataException(error)) throw error;
      const failure = fail('validation_failed', `a value cannot be stored: ${(error as Error).message}`);
      const entry = REGISTRY[name] as RegisteredJob<JobName>;
      if (isBatched(entry)) await entry.batch.failedAlone?.(app, item as never, failure);
      return failure;
    });
  };

  const run = async (job: Job, name: JobName): Promise<AnyResult> => {
    const entry = REGISTRY[name] as RegisteredJob<JobName>;
    const parsed = entry.schema.safeParse(job.data);
    if (!parsed.success) return fail('validation_failed', problemsText(zodProblems(parsed.error)));
    const jobId = job.id ?? '';
    const enqueuedAt = new Date(job.timestamp);
    const batcher = batchers.get(name);
    // the registry pairs each name with its schema's output type; a lookup by a runtime name cannot show it
    const data = parsed.data as never;
    if (batcher) return batched(name, batcher, { jobId, data, enqueuedAt });
    if (isFanOut(entry)) {
      const target = batchers.get(entry.fanOut.to);
      if (!target) throw new Error(`job ${name} fans out to ${entry.fanOut.to}, which has no batcher on this queue`);
      const parts = entry.fanOut.parts(data, { jobId, enqueuedAt }) as Array<BatchItem<JobName>>;
      const outcomes = await Promise.all(parts.map((part) => batched(entry.fanOut.to, target, part)));
      return ok(entry.fanOut.combine(data, outcomes as never));
    }
    if (isBatched(entry)) throw new Error(`job ${name} has no batcher`);
    return entry.run(data, { app, job, jobId });
  };

  return {
    process: async (job) => {
      if (stageTimes && job.id) {
        // debug (STAGE_TIMES_DIR): when the job was added (the producer's clock), taken, and handed here
        stageTimes.mark(job.id, 'added', job.timestamp);
        if (job.processedOn) stageTimes.mark(job.id, 'active', job.processedOn);
        stageTimes.mark(job.id, 'fetched');
      }
      const name = (names as string[]).includes(job.name) ? (job.name as JobName) : undefined;
      const outcome: AnyResult = name
        ? await run(job, name)
        : fail('validation_failed', `unknown job name "${job.name}" on the ${queue} queue`);
      if (outcome.ok) return outcome.value;
      // settled for good: the relay must not enqueue it again, and a waiter reads the code
      throw await failCommand(app, { id: job.id ?? '', name: name ?? (job.name as JobName), queue }, outcome);
    },
    drain: async () => {
      await Promise.all([...batchers.values()].map((b) => b.drain()));
    },
  };
}
