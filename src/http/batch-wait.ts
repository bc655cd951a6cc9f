import type { AppContext } from '../app-context.js';
import { awaitOutcome } from '../commands/index.js';
import { consumptionsByIds } from '../db/repositories/consumptions.js';
import type { AcceptedConsumption } from '../jobs/consume.js';
import { jobIdOf } from '../jobs/definitions.js';
import { consumptionViews } from '../services/consumptions.js';
import type { ConsumptionView, FailedUse } from '../views/consumption.js';
import { unlessUnreadable } from './job-reply.js';
import type { JsonReply } from './route.js';

/** A use of a batch as `?wait=true` answers it: its consumption, still queued, or failed alone (door or worker). */
export type BatchItemAnswer =
  | (ConsumptionView & { idempotency_key: string })
  | { id: string; status: 'queued'; idempotency_key: string }
  | FailedUse;

/**
 * POST /v1/consumptions/batch?wait=true: waits (up to WAIT_TIMEOUT_MS) for the batch's carrier job,
 * then answers every use as it stands — read from Postgres, not from the job's return value (which
 * counts, and names only the uses that failed): 200 when each use has its outcome, 202 with the same
 * shape when some are still queued (a use another request or a producer's job carries, or a carrier
 * that ran out of time). A use short of balance is one item `rejected` among the others, not a 422:
 * in a batch, each use fails alone — and so does a use refused at the door (`failed`, answered as it was).
 */
export async function waitForBatch(
  app: AppContext,
  batchKey: string,
  uses: ReadonlyArray<AcceptedConsumption | FailedUse>,
): Promise<JsonReply> {
  // the carrier exists when some use of this request (or of the first request under its Idempotency-Key)
  // was still to apply; a batch whose uses were all applied before made none
  const carrier = jobIdOf('consume-batch', { batch_key: batchKey, items: [] });
  const outcome = uses.some((u) => u.status === 'queued')
    ? await unlessUnreadable(app, carrier, awaitOutcome(app, 'consume-batch', carrier))
    : undefined;
  // the carrier's items are the request's uses in order, but for those refused at the door (never carried): its
  // `failed` names them by their index among the carried
  const carried = uses.filter((u): u is AcceptedConsumption => u.status !== 'failed');
  const failed = new Map(
    outcome?.state === 'completed'
      ? outcome.value.failed.flatMap((f) => {
          const use = carried[f.index];
          return use ? [[use, f] as const] : [];
        })
      : [],
  );
  const rows = await consumptionsByIds(
    app.db,
    carried.map((u) => u.id),
  );
  const views = new Map((await consumptionViews(app, [...rows.values()])).map((v) => [v.id, v]));
  const data = uses.map((use): BatchItemAnswer => {
    if (use.status === 'failed') return use;
    const view = views.get(use.id);
    if (view) return { ...view, idempotency_key: use.idempotency_key };
    const failure = failed.get(use);
    return failure
      ? {
          id: use.id,
          status: 'failed',
          idempotency_key: use.idempotency_key,
          code: failure.code,
          detail: failure.detail,
        }
      : { id: use.id, status: 'queued', idempotency_key: use.idempotency_key };
  });
  const settled = data.every((item) => item.status !== 'queued');
  return { status: settled ? 200 : 202, body: { batch_key: batchKey, data } };
}
