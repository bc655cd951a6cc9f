import type { Job } from 'bullmq';
import type { AppContext } from '../app-context.js';
import { isDataException, isRowCausedDbError, isTransientDbError } from '../db/knex.js';
import { applyConsumptions, ConcurrentDuplicateError, type ConsumeItem, type ItemOutcome } from '../jobs/consume.js';
import { consumeData, reverseData } from '../jobs/definitions.js';
import { jobHandler } from '../jobs/handler.js';
import { permanentError } from '../jobs/job-error.js';
import { reverseConsumption } from '../jobs/reverse.js';
import { zodProblems } from '../http/problem.js';
import { consumptionBatchSeconds, consumptionBatchSize } from '../metrics.js';
import { MicroBatcher } from './micro-batcher.js';
import type { Failure } from '../domain/result.js';

const IMMEDIATE_RETRIES = 3;

/** FNV-1a: a cheap, stable spread of client references over the lanes. */
function hashOf(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * The `consumption` queue's processor. `consume` jobs are handed to a micro-batcher and applied
 * many per transaction; each job still awaits, and answers, its own outcome. A deadlock or
 * serialization failure is retried at once a few times before the jobs go back to BullMQ's backoff.
 */
export function consumptionProcessor(app: AppContext) {
  const batcher = new MicroBatcher<ConsumeItem, ItemOutcome>({
    maxSize: app.config.CONSUMPTION_BATCH_SIZE,
    maxWaitMs: app.config.CONSUMPTION_BATCH_WAIT_MS,
    maxInFlight: app.config.CONSUMPTION_BATCHES_IN_FLIGHT,
    lanes: app.config.CONSUMPTION_LANES,
    laneOf: (item) => hashOf(item.data.client),
    apply: async (items) => {
      for (let attempt = 1; ; attempt += 1) {
        try {
          return await applyConsumptions(app, items);
        } catch (error) {
          const transient = error instanceof ConcurrentDuplicateError || isTransientDbError(error);
          if (!transient || attempt >= IMMEDIATE_RETRIES) throw error;
          app.log.warn({ err: error, attempt, size: items.length }, 'consumption batch failed transiently; retrying');
          await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * attempt));
        }
      }
    },
    // a batch that one of its jobs made fail (a value refused, a constraint broken) is split until
    // that job is alone: its neighbours are applied, it fails by itself. An outage, a lock conflict
    // (retried above) or a bug would fail every half alike, so those are not split.
    isolate: (error) => !(error instanceof ConcurrentDuplicateError) && isRowCausedDbError(error),
    onBatch: (size, ms, error) => {
      consumptionBatchSize.observe(size);
      consumptionBatchSeconds.observe(ms / 1000);
      if (error) app.log.error({ err: error, size }, 'consumption batch failed');
    },
  });

  const reverse = jobHandler(reverseData, (data, run) => reverseConsumption(app, data, run.jobId, `job:${run.jobId}`));

  const process = async (job: Job): Promise<unknown> => {
    if (job.name === 'reverse') return reverse(app, job);
    if (job.name !== 'consume') throw permanentError({ code: 'validation_failed', detail: `unknown job name "${job.name}" on the consumption queue` });
    const parsed = consumeData.safeParse(job.data);
    if (!parsed.success) {
      throw permanentError({ code: 'validation_failed', detail: zodProblems(parsed.error).map((p) => `${p.field}: ${p.message}`).join('; ') });
    }
    const outcome = await batcher.submit({ jobId: job.id ?? '', data: parsed.data, enqueuedAt: new Date(job.timestamp) }).catch((error: unknown): Failure => {
      // a value Postgres refuses fails the same way on every attempt: a result, not a retry loop
      if (isDataException(error)) return { ok: false, code: 'validation_failed', detail: `a value cannot be stored: ${(error as Error).message}` };
      throw error;
    });
    if (!outcome.ok) {
      // settled for good: the relay must not enqueue it again
      if (parsed.data.accepted_at) await app.db('accepted_jobs').where({ job_id: job.id ?? '' }).delete();
      throw permanentError(outcome);
    }
    return outcome.value;
  };
  return { process, drain: () => batcher.drain() };
}
