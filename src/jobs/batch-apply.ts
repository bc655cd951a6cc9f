import type { Failure } from '../domain/result.js';

/**
 * What the hot path's batched jobs (consume, hold) share around their own lock, plan and write: the
 * split of a batch into the first item of each id and its repeats, the accepted requests the batch
 * settles, and the optimistic run that reads earlier answers only when the write found one.
 */

/** Thrown when a concurrent transaction wrote one of a batch's rows first: the retry replays it. */
export class ConcurrentDuplicateError extends Error {
  readonly transient = true;
  constructor() {
    super('a row of this batch was applied concurrently; retrying the batch');
  }
}

/**
 * Each item prepared: a refusal answers that item; the first item of each id is applied, later ones (the same
 * key twice in one batch) repeat its answer.
 */
export function firstsAndRepeats<I, P extends { id: string; index: number }>(
  items: readonly I[],
  prepare: (item: I, index: number) => P | Failure,
  outcomes: Array<unknown>,
): { primaries: P[]; repeats: P[] } {
  const primaries: P[] = [];
  const repeats: P[] = [];
  const seen = new Set<string>();
  items.forEach((item, index) => {
    const prepared = prepare(item, index);
    if ('ok' in prepared) {
      outcomes[index] = prepared;
      return;
    }
    if (seen.has(prepared.id)) repeats.push(prepared);
    else {
      seen.add(prepared.id);
      primaries.push(prepared);
    }
  });
  return { primaries, repeats };
}

/** The accepted requests a batch settles: each job accepted by someone (API, producer, scheduler) has accepted_at. */
export const acceptedJobIdsOf = (
  items: ReadonlyArray<{ jobId: string; settles?: string | undefined; data: { accepted_at?: string | undefined } }>,
): string[] => [...new Set(items.filter((i) => i.data.accepted_at !== undefined).map((i) => i.settles ?? i.jobId))];

/**
 * Optimistic first: a batch is almost always new, so it skips the read of earlier answers; if the write finds one
 * applied before (ConcurrentDuplicateError), it rolls back and runs again with that read.
 */
export async function applyOptimistically<T>(
  apply: (checkExisting: boolean) => Promise<T>,
  checkExisting = false,
): Promise<T> {
  try {
    return await apply(checkExisting);
  } catch (error) {
    if (!(error instanceof ConcurrentDuplicateError) || checkExisting) throw error;
    return await apply(true);
  }
}
