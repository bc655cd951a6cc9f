import type { AppContext } from '../app-context.js';
import { acceptConsumptionRequests, allocationsOf, consumptionsByIds, type ConsumptionRow, type ConsumptionStatus } from '../db/repositories/consumptions.js';
import type { FieldProblem } from '../domain/result.js';
import { fail, ok, type Failure, type Result } from '../domain/result.js';
import { prepareConsumption } from '../jobs/consume.js';
import { consumeJob, type ConsumeData } from '../jobs/definitions.js';
import { jobIds } from '../jobs/job-id.js';
import { toConsumptionView, type ConsumptionView } from '../views/consumption.js';
import { enqueueAccepted, redisReady, type JobToAccept } from './accept.js';

export interface AcceptedConsumption {
  id: string;
  jobId: string;
  idempotency_key: string;
  /** `queued`, or the status it already has when the same request was applied before. */
  status: 'queued' | ConsumptionStatus;
}

/**
 * POST /v1/consumptions (and /batch): checks everything that can be checked before the worker
 * (references, precision, an earlier use of the same key with another payload), records the
 * requests as accepted, then enqueues them. All or nothing: one bad item refuses the whole request.
 */
export async function acceptConsumptions(app: AppContext, bodies: readonly ConsumeData[], fieldPrefix?: (index: number) => string): Promise<Result<AcceptedConsumption[]>> {
  const now = app.clock.now();
  const acceptedAt = now.toISOString();
  const clients = await app.refs.clientsFor(app.db, bodies.map((b) => b.client));
  const creditTypes = await app.refs.creditTypesFor(app.db, bodies.map((b) => b.credit_type));

  const problems: FieldProblem[] = [];
  let firstFailure: Failure | undefined;
  const prepared = bodies.map((body, index) => {
    const data = { ...body, accepted_at: acceptedAt };
    const p = prepareConsumption({ jobId: '', data, enqueuedAt: now }, index, clients, creditTypes, now);
    if ('ok' in p) {
      firstFailure ??= p;
      const prefix = fieldPrefix ? `${fieldPrefix(index)}.` : '';
      problems.push(...(p.errors ?? [{ field: '(body)', message: p.detail }]).map((e) => ({ field: `${prefix}${e.field}`, message: e.message })));
      return undefined;
    }
    return { ...p, data };
  });
  if (firstFailure) {
    if (!fieldPrefix) return firstFailure;
    // In a batch, a not-found reference is bad input like any other field.
    return fail(firstFailure.code === 'not_found' && problems.length > 1 ? 'validation_failed' : firstFailure.code, problems.map((p) => `${p.field}: ${p.message}`).join('; '), { errors: problems });
  }
  const items = prepared.filter((p): p is NonNullable<typeof p> => p !== undefined);

  // the same key twice in one request must carry the same payload
  const byId = new Map<string, (typeof items)[number]>();
  for (const item of items) {
    const other = byId.get(item.id);
    if (other && other.hash !== item.hash) {
      return fail('idempotency_conflict', `idempotency_key "${item.data.idempotency_key}" appears twice with different payloads`);
    }
    byId.set(item.id, item);
  }

  // the API names the client by id: the same key sent by external_ref or by id is one job
  const jobIdOf = (item: (typeof items)[number]) => jobIds.consume(item.client.id, item.data.idempotency_key);
  if (!redisReady(app)) return fail('unavailable', 'the queue (Redis) cannot be reached; nothing was accepted, retry later');
  const outcomes = await acceptConsumptionRequests(
    app.db,
    [...byId.values()].map((item) => ({ jobId: jobIdOf(item), consumptionId: item.id, requestHash: item.hash, data: item.data as Record<string, unknown> })),
    { queue: consumeJob.queue, name: consumeJob.name },
  );
  const outcomeOf = new Map(outcomes.map((o) => [o.consumptionId, o]));
  for (const item of byId.values()) {
    const outcome = outcomeOf.get(item.id);
    const earlier = outcome?.appliedHash ?? outcome?.priorHash;
    if (earlier && earlier !== item.hash) {
      return fail('idempotency_conflict', `idempotency_key "${item.data.idempotency_key}" was used for client "${item.client.externalRef}" with another payload`);
    }
  }

  // Enqueue what was recorded now and what was recorded before but not applied yet (a retry of a
  // request whose job Redis may have lost): BullMQ makes no second job under the same id.
  const toQueue: JobToAccept[] = [...byId.values()]
    .filter((item) => !outcomeOf.get(item.id)?.appliedStatus)
    .map((item) => ({ queue: consumeJob.queue, name: consumeJob.name, jobId: jobIdOf(item), data: item.data as Record<string, unknown>, requestHash: item.hash, subjectId: item.id }));
  if (toQueue.length > 0) {
    try {
      await enqueueAccepted(app, toQueue);
    } catch (error) {
      // Recorded in Postgres already: the relay will enqueue it, so the request stands accepted.
      app.log.warn({ err: error, count: toQueue.length }, 'enqueue failed after accepting; the relay will retry');
    }
  }
  return ok(
    items.map((item) => ({
      id: item.id,
      jobId: jobIdOf(item),
      idempotency_key: item.data.idempotency_key,
      status: outcomeOf.get(item.id)?.appliedStatus ?? 'queued',
    })),
  );
}

/** The consumption as stored, or `queued` while an accepted request waits for its worker. */
export async function consumptionView(app: AppContext, id: string): Promise<ConsumptionView | undefined> {
  const rows = await consumptionsByIds(app.db, [id]);
  const row = rows.get(id);
  if (row) return (await consumptionViews(app, [row]))[0];
  const accepted = await app.db('accepted_jobs').where({ subject_id: id }).first('job_id');
  return accepted ? { id, status: 'queued' } : undefined;
}

export async function consumptionViews(app: AppContext, rows: readonly ConsumptionRow[]): Promise<ConsumptionView[]> {
  const allocations = await allocationsOf(app.db, rows.map((r) => r.id));
  const clients = await app.refs.clientsFor(app.db, rows.map((r) => r.client_id));
  const creditTypes = await app.refs.creditTypesFor(app.db, rows.map((r) => r.credit_type_id));
  return rows.map((row) => toConsumptionView(row, allocations.get(row.id) ?? [], clients.get(row.client_id)!, creditTypes.get(row.credit_type_id)!));
}
