import type { Result } from '../domain/result.js';
import type { ConsumeBatchResult, ConsumptionResult } from '../views/consumption.js';
import { type JobPayload, jobIdOf } from './definitions.js';

/** One use of a batch, as the consumption micro-batcher takes it (a `consume` job's item). */
export interface BatchUse {
  jobId: string;
  data: JobPayload<'consume'>;
  enqueuedAt: Date;
  settles: string;
}

/**
 * The uses of a `consume-batch` job as parts for the consumption micro-batcher: each keeps the
 * batch's accepted_at as its own default, records the batch job as its job, and settles the request
 * it was accepted as (`consume|<client>|<key>`: the API records each use of a batch on its own).
 */
export function batchUses(data: JobPayload<'consume-batch'>, carrier: { jobId: string; enqueuedAt: Date }): BatchUse[] {
  return data.items.map((use) => {
    const part = data.accepted_at && !use.accepted_at ? { ...use, accepted_at: data.accepted_at } : use;
    return { jobId: carrier.jobId, data: part, enqueuedAt: carrier.enqueuedAt, settles: jobIdOf('consume', part) };
  });
}

/**
 * What a batch answers once every use has: counts by outcome, the uses that failed, each with its reason, and the
 * whole result of each use the batch names in `waited` (its caller waits for it: the Admitter's carriers).
 */
export function batchOutcome(
  data: JobPayload<'consume-batch'>,
  outcomes: ReadonlyArray<Result<ConsumptionResult>>,
): ConsumeBatchResult {
  const result: ConsumeBatchResult = {
    batch_key: data.batch_key,
    uses: outcomes.length,
    applied: 0,
    partial: 0,
    rejected: 0,
    replayed: 0,
    failed: [],
  };
  outcomes.forEach((outcome, index) => {
    if (!outcome.ok) {
      result.failed.push({
        index,
        idempotency_key: data.items[index]?.idempotency_key ?? '',
        code: outcome.code,
        detail: outcome.detail,
        ...(outcome.errors ? { errors: outcome.errors } : {}),
        ...(outcome.extra ? { extra: outcome.extra } : {}),
      });
      return;
    }
    if (outcome.value.replayed) result.replayed += 1;
    else if (outcome.value.status === 'partial') result.partial += 1;
    else if (outcome.value.status === 'rejected') result.rejected += 1;
    else result.applied += 1;
  });
  if (data.waited) {
    const answers: NonNullable<ConsumeBatchResult['answers']> = [];
    for (const index of new Set(data.waited)) {
      const outcome = outcomes[index];
      if (outcome?.ok) answers.push({ index, result: outcome.value });
    }
    result.answers = answers;
  }
  return result;
}
