import type { AppContext } from '../app-context.js';
import { type SettledLookup, submit, type Watch } from '../commands/index.js';
import {
  type AllocationRow,
  allocationsIn,
  appliedConsumptions,
  type ConsumptionRow,
  consumptionsIn,
  writeConsumptionBatch,
} from '../db/repositories/consumptions.js';
import { type ConsumptionPlan, planConsumptions } from '../domain/consumption-plan.js';
import { isRefused, type PreparedUse, prepareUse } from '../domain/consumption-request.js';
import { type Failure, type FieldProblem, fail, ok, type Result } from '../domain/result.js';
import { type ConsumptionResult, toConsumptionResult } from '../views/consumption.js';
import { JOBS, type JobPayload, jobIdOf } from './definitions.js';
import { applySpendBatch, type SpendBatch, type SpendItem } from './spend-batch.js';

/** One `consume` job as the micro-batcher hands it over. */
export type ConsumeItem = SpendItem<JobPayload<'consume'>>;

export type ItemOutcome = Result<ConsumptionResult>;

const conflict = (p: PreparedUse): Failure =>
  fail(
    'idempotency_conflict',
    `idempotency_key "${p.report.idempotency_key}" was used for client "${p.client.externalRef}" with another payload`,
  );

/** What the `consume` job is made of in the skeleton it shares with `hold` (jobs/spend-batch.ts). */
const consumeBatch: SpendBatch<
  PreparedUse<JobPayload<'consume'>>,
  ConsumptionRow,
  AllocationRow,
  ConsumptionPlan,
  'applied',
  ConsumptionResult
> = {
  noun: 'consumption',
  taken: 'applied',
  prepare: prepareUse,
  existing: consumptionsIn,
  plan: planConsumptions,
  rows: (plan) => plan.consumptions,
  short: (c) => c.status !== 'applied',
  write: (client, plan, settlement, now) => writeConsumptionBatch(client, { ...plan, settlement, now }),
  replayAllocations: allocationsIn,
  answer: (row, allocations, p, replayed) => toConsumptionResult(row, allocations, p.client, p.creditType, replayed),
  conflict,
};

/**
 * The `consume` job, many at a time (DOMAIN.md "Consumption"): lock, plan, write, in ONE
 * transaction of four round trips whatever the batch size — lock every balance the uses may spend
 * in the one lock order (`lockSpendable`), plan the burn-down in memory in arrival order
 * (`planConsumptions`), write consumptions, allocations, balances, ledger entries and events with
 * one statement (`writeConsumptionBatch`) that also settles the accepted requests. Each job gets its own
 * answer. A repeat of an earlier consumption is found by the write (its row's key is taken: a
 * unique violation), and the batch runs again reading earlier answers first (replays and idempotency
 * conflicts). A bad item answers its own failure and never fails its neighbours; a database error
 * throws, and the whole batch is retried (idempotency makes that safe).
 */
export function applyConsumptions(
  app: AppContext,
  items: readonly ConsumeItem[],
  options: { checkExisting?: boolean } = {},
): Promise<ItemOutcome[]> {
  return applySpendBatch(app, items, consumeBatch, options);
}

/** A consumption as POST /v1/consumptions (and /batch) accepted it. */
export interface AcceptedConsumption {
  id: string;
  jobId: string;
  idempotency_key: string;
  /** `queued`, or the status it already has when the same request was applied before. */
  status: 'queued' | ConsumptionRow['status'];
  /** Recorded by this request (not a repeat of one accepted before). */
  fresh: boolean;
  /** Its job's outcome, watched from before it was enqueued (asked with `watch`). */
  watch?: Watch<'consume'>;
}

/**
 * The accepting side of the `consume` job (POST /v1/consumptions and /batch): checks everything
 * that can be checked before the worker — references, precision, the same key used before with
 * another payload — then hands the uses to the command path, which records them and enqueues them.
 * All or nothing: one bad item refuses the whole request, its field named `items.N.…` in a batch.
 */
export async function acceptConsumptions(
  app: AppContext,
  bodies: ReadonlyArray<Omit<JobPayload<'consume'>, 'accepted_at'>>,
  options: {
    fieldPrefix?: (index: number) => string;
    watch?: boolean;
    /** Carry the uses in one `consume-batch` job of this key, instead of a `consume` job each. */
    batchKey?: string;
  } = {},
): Promise<Result<AcceptedConsumption[]>> {
  const { fieldPrefix } = options;
  const now = app.clock.now();
  const acceptedAt = now.toISOString();
  const clients = await app.refs.clientsFor(
    app.db,
    bodies.map((b) => b.client),
  );
  const creditTypes = await app.refs.creditTypesFor(
    app.db,
    bodies.map((b) => b.credit_type),
  );

  const problems: FieldProblem[] = [];
  let firstFailure: Failure | undefined;
  const prepared: PreparedUse[] = [];
  bodies.forEach((body, index) => {
    const p = prepareUse(
      { ...body, accepted_at: acceptedAt },
      { index, jobId: '', enqueuedAt: now, now, clients, creditTypes },
    );
    if (!isRefused(p)) {
      prepared.push(p);
      return;
    }
    firstFailure ??= p;
    const prefix = fieldPrefix ? `${fieldPrefix(index)}.` : '';
    const errors = p.errors ?? [{ field: '(body)', message: p.detail }];
    problems.push(...errors.map((e) => ({ field: `${prefix}${e.field}`, message: e.message })));
  });
  if (firstFailure) {
    if (!fieldPrefix) return firstFailure;
    // In a batch, a not-found reference is bad input like any other field: 422 naming `items.N.client` (the
    // route's OpenAPI answers no 404), whether it is the only problem or one of several.
    const code = firstFailure.code === 'not_found' ? 'validation_failed' : firstFailure.code;
    return fail(code, problems.map((p) => `${p.field}: ${p.message}`).join('; '), { errors: problems });
  }

  // the API names the client by id: the same key sent by external_ref or by id is one job
  const commands = prepared.map((p) => ({
    name: 'consume' as const,
    data: { ...p.report, client: p.client.id },
    requestHash: p.hash,
    subjectId: p.id,
  }));
  const submitted = await submit(app, commands, {
    // the 409's words, found only when a 409 happens (not a job id and a spread per use of every request)
    describeConflict: (c) => {
      const p = prepared[commands.findIndex((command) => jobIdOf('consume', command.data) === c.jobId)];
      return p ? conflict(p).detail : `idempotency_key "${c.data.idempotency_key}" was used with another payload`;
    },
    settled: settledConsumptions,
    heldHash: (data) => heldUseHash(app, data),
    watch: options.watch ?? false,
    ...(options.batchKey
      ? {
          carry: {
            name: 'consume-batch' as const,
            data: { batch_key: options.batchKey, items: commands.map((c) => c.data), accepted_at: acceptedAt },
          },
        }
      : {}),
  });
  if (!submitted.ok) return submitted;
  return ok(
    submitted.value.map((admission, index) => ({
      id: commands[index]!.subjectId,
      jobId: admission.jobId,
      idempotency_key: prepared[index]!.report.idempotency_key,
      status: admission.state === 'settled' ? (admission.status as ConsumptionRow['status']) : 'queued',
      fresh: admission.state === 'new',
      ...(admission.watch ? { watch: admission.watch } : {}),
    })),
  );
}

/**
 * The fingerprint of a use as a job Redis holds carries it (a producer's, under the job id of a use being accepted):
 * what prepareUse makes of it, or undefined when it would be refused.
 */
async function heldUseHash(app: AppContext, data: unknown): Promise<string | undefined> {
  const parsed = JOBS.consume.schema.safeParse(data);
  if (!parsed.success) return undefined;
  const now = app.clock.now();
  const clients = await app.refs.clientsFor(app.db, [parsed.data.client]);
  const creditTypes = await app.refs.creditTypesFor(app.db, [parsed.data.credit_type]);
  const p = prepareUse(parsed.data, { index: 0, jobId: '', enqueuedAt: now, now, clients, creditTypes });
  return isRefused(p) ? undefined : p.hash;
}

/**
 * Where a consumption command settled before is found: its consumption row (the command's subject),
 * with the payload's fingerprint and the status it got. One read for every request of a group.
 */
const settledConsumptions: SettledLookup = async (db, commands) => {
  const applied = await appliedConsumptions(
    db,
    commands.flatMap((c) => (c.subjectId ? [c.subjectId] : [])),
  );
  return new Map(
    commands.flatMap((c) => {
      const found = c.subjectId ? applied.get(c.subjectId) : undefined;
      return found ? [[c.jobId, found] as const] : [];
    }),
  );
};
