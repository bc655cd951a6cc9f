import { z } from 'zod';
import type { AppContext } from '../app-context.js';
import { pendingSubjects, type SettledLookup, submit, type Watch } from '../commands/index.js';
import {
  type ConsumptionFailureRow,
  recordConsumptionFailures,
  upsertConsumptionFailures,
} from '../db/repositories/consumption-failures.js';
import {
  type AllocationRow,
  allocationsIn,
  appliedConsumptions,
  type ConsumptionRow,
  consumptionsByIds,
  consumptionsIn,
  writeConsumptionBatch,
} from '../db/repositories/consumptions.js';
import type { SqlClient } from '../db/sql-client.js';
import { type ConsumptionPlan, planConsumptions } from '../domain/consumption-plan.js';
import {
  CAPTURE_KEY_PREFIX,
  isRefused,
  judgeRefusals,
  type PreparedUse,
  prepareUse,
  refusedUseFingerprint,
  refusedUseId,
  type UseContext,
} from '../domain/consumption-request.js';
import { type ErrorCode, type Failure, fail, ok, type Result } from '../domain/result.js';
import { type ConsumptionResult, type FailedUse, failedUseSchema, toConsumptionResult } from '../views/consumption.js';
import { JOBS, type JobPayload, jobIdOf } from './definitions.js';
import { applySpendBatch, type Refusal, type RefusalContext, type SpendBatch, type SpendItem } from './spend-batch.js';

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
  refused: answerRefusals,
};

/**
 * The uses a batch refused for good, judged as consumption rule 4 judges the uses it accepts (`judgeRefusals`): the
 * first under a free key is recorded under the id its consumption would have had, unless that id has a consumption
 * already (a key applied before, replayed with another payload: a conflict, as a key reused is, with nothing written);
 * a later one of another payload, or one under a key a use applied earlier in the batch took, is a conflict; one of
 * the same payload repeats the first's answer.
 */
async function answerRefusals(
  client: SqlClient,
  refusals: ReadonlyArray<Refusal<JobPayload<'consume'>>>,
  context: RefusalContext,
): Promise<Failure[]> {
  const verdicts = judgeRefusals(refusals, context);
  const recorded = refusals.filter((_, position) => verdicts[position]!.kind === 'record');
  const taken = await recordConsumptionFailures(client, failureRows(recorded, context.clients, context.now));
  // a refused use followed in the batch by a use under its key failed while the key was free — unless a consumption
  // took that key before this batch (the use after it a replay, or a conflict): a key reused, as for a recorded one
  const own = refusals.filter((r, position) => verdicts[position]!.kind === 'own' && !isCaptureKey(r.report));
  const ownTaken = await consumptionsIn(
    client,
    own.map((r) => refusedUseId(r.report, context.clients)),
  );
  const answers: Failure[] = [];
  for (const [position, verdict] of verdicts.entries()) {
    const { report, failure } = refusals[position]!;
    const id = verdict.kind === 'record' || verdict.kind === 'own' ? refusedUseId(report, context.clients) : '';
    const takenBefore =
      (verdict.kind === 'record' && taken.has(id)) ||
      (verdict.kind === 'own' && !isCaptureKey(report) && ownTaken.has(id));
    answers.push(
      verdict.kind === 'repeat'
        ? answers[verdict.of]!
        : verdict.kind === 'conflict' || takenBefore
          ? reusedKey(report)
          : failure,
    );
  }
  return answers;
}

const isCaptureKey = (report: JobPayload<'consume'>): boolean => report.idempotency_key.startsWith(CAPTURE_KEY_PREFIX);

/**
 * The failures of uses refused for good, as consumption_failures holds them: under the id each use's consumption would
 * have had. Not a use under a `hold:` key (refused for that): its id is a hold capture's consumption, not its own.
 */
function failureRows(
  refusals: ReadonlyArray<{ report: JobPayload<'consume'>; failure: Failure }>,
  clients: UseContext['clients'],
  now: Date,
): ConsumptionFailureRow[] {
  return refusals.flatMap(({ report, failure }) =>
    report.idempotency_key.startsWith(CAPTURE_KEY_PREFIX)
      ? []
      : [
          {
            id: refusedUseId(report, clients),
            idempotency_key: report.idempotency_key,
            code: failure.code,
            detail: failure.detail,
            failed_at: now,
          },
        ],
  );
}

/**
 * The `consume` job, many at a time (DOMAIN.md "Consumption"): lock, plan, write, in ONE
 * transaction of four round trips whatever the batch size — lock every balance the uses may spend
 * in the one lock order (`lockSpendable`), plan the burn-down in memory in arrival order
 * (`planConsumptions`), write consumptions, allocations, balances, ledger entries and events with
 * one statement (`writeConsumptionBatch`) that also settles the accepted requests. Each job gets its own
 * answer. A repeat of an earlier consumption is found by the write (its row's key is taken: a
 * unique violation), and the batch runs again reading earlier answers first (replays and idempotency
 * conflicts). A bad item answers its own failure and never fails its neighbours; a database error
 * throws, and the whole batch is retried (idempotency makes that safe). A use refused for good (no such client or
 * credit type, a quantity its credit type refuses, a time in the future) is recorded in the same transaction under
 * the id its consumption would have had (consumption_failures: GET /v1/consumptions/{id} reads it as `failed`); a
 * key reused with another payload is not (its id names the consumption applied before, or the refused use the batch
 * recorded first): that use fails `idempotency_conflict` (answerRefusals).
 */
export function applyConsumptions(
  app: AppContext,
  items: readonly ConsumeItem[],
  options: { checkExisting?: boolean } = {},
): Promise<ItemOutcome[]> {
  return applySpendBatch(app, items, consumeBatch, options);
}

/**
 * A use that failed alone outside the batch's transaction (a value Postgres refused: the micro-batcher split its
 * batch down to it, and that use's transaction rolled back), recorded right after under the id its consumption
 * would have had, as applyConsumptions records the uses it refuses: GET /v1/consumptions/{id} reads it.
 */
export async function recordFailedUse(app: AppContext, item: ConsumeItem, failure: Failure): Promise<void> {
  const clients = await app.refs.clientsFor(app.db, [item.data.client]);
  await recordConsumptionFailures(app.sql, failureRows([{ report: item.data, failure }], clients, app.clock.now()));
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

/** A use as it arrives at the API (its `accepted_at` is the API's to set). */
type UseBody = Omit<JobPayload<'consume'>, 'accepted_at'>;

/**
 * Each use checked against what the schema cannot know (references, precision, the clock: prepareUse), dated by one
 * `accepted_at`; with the references resolved, which name and fingerprint the uses refused too.
 */
async function prepareBodies(app: AppContext, bodies: readonly UseBody[], now: Date) {
  const acceptedAt = now.toISOString();
  const clients = await app.refs.clientsFor(
    app.db,
    bodies.map((b) => b.client),
  );
  const creditTypes = await app.refs.creditTypesFor(
    app.db,
    bodies.map((b) => b.credit_type),
  );
  const uses = bodies.map((body, index) =>
    prepareUse({ ...body, accepted_at: acceptedAt }, { index, jobId: '', enqueuedAt: now, now, clients, creditTypes }),
  );
  return { uses, refs: { clients, creditTypes }, acceptedAt };
}

/**
 * The accepting side of the `consume` job (POST /v1/consumptions): checks everything
 * that can be checked before the worker — references, precision, the same key used before with
 * another payload — then hands the uses to the command path, which records them and enqueues them.
 * All or nothing: one bad use refuses the whole request (the first one's failure).
 */
export async function acceptConsumptions(
  app: AppContext,
  bodies: readonly UseBody[],
  options: { watch?: boolean } = {},
): Promise<Result<AcceptedConsumption[]>> {
  const now = app.clock.now();
  const { uses, acceptedAt } = await prepareBodies(app, bodies, now);
  const prepared: PreparedUse[] = [];
  for (const p of uses) {
    if (isRefused(p)) return p;
    prepared.push(p);
  }
  return submitUses(app, prepared, { ...options, acceptedAt });
}

/**
 * The accepting side of POST /v1/consumptions/batch (issue 14: "every use still idempotent by (client,
 * idempotency_key), each with its own result readable by id, and one bad use failing alone"). What the schema
 * refuses (a malformed use, more than 1,000, no items) the route refused before; here each use is checked as a
 * single one is, and a use refused by that check — a client or credit type that does not exist (`not_found`), a
 * quantity its credit type refuses or a time in the future (`validation_failed`) — fails alone: it is answered
 * `failed` with that code under the id its consumption would have had (uuid v5 of the client, or of the client as
 * named when there is none, and the key), recorded so that GET /v1/consumptions/{id} reads it, and left out of
 * the job; the others are accepted as a batch, carried in one `consume-batch` job of `batchKey`.
 *
 * A key reused with another payload still refuses the whole request (409 `idempotency_conflict`, nothing recorded),
 * as API.md has it for any key: two uses of the batch under one (client, key) with other payloads — one of them
 * refused or not — or a refused use under a key a use was applied (or waits to be) under before.
 *
 * `repeat`: the request is one accepted before, sent again under its Idempotency-Key, which answers its first answer
 * (API.md: "same key + same body → the same response, replayed"). The uses that request failed at its door
 * (`answered`, by index, as it answered them) are answered so again, whatever happened since — a use applied under
 * such a key meanwhile (the key was left free), a credit type made since; the others are the same uses again
 * (repeats: nothing applied twice). Nothing is recorded for the failed ones: the first request did. Without
 * `answered` (the first request is still running: it notes its answer last) the uses are judged as the first request
 * judges them, a key taken elsewhere included: that one may yet answer 409, and this one must not apply its uses.
 */
export async function acceptBatchUses(
  app: AppContext,
  bodies: readonly UseBody[],
  options: { batchKey: string; repeat?: { answered?: ReadonlyMap<number, FailedUse> | undefined } },
): Promise<Result<Array<AcceptedConsumption | FailedUse>>> {
  const now = app.clock.now();
  const { uses, refs, acceptedAt } = await prepareBodies(app, bodies, now);
  const answered = options.repeat?.answered ?? new Map<number, FailedUse>();
  const prepared: PreparedUse[] = [];
  const refused = new Map<number, FailedUse & { code: ErrorCode }>();
  // two refused uses under one (client, key) are one use when their fingerprints are (as two accepted ones are)
  const seen = new Map<string, string>();
  for (const [index, p] of uses.entries()) {
    if (answered.has(index)) continue;
    if (!isRefused(p)) {
      prepared.push(p);
      continue;
    }
    const body = bodies[index]!;
    const id = refusedUseId(body, refs.clients);
    const request = refusedUseFingerprint(body, refs);
    if (seen.has(id) && seen.get(id) !== request) return reusedKey(body);
    seen.set(id, request);
    refused.set(index, { id, status: 'failed', idempotency_key: body.idempotency_key, code: p.code, detail: p.detail });
  }
  if (refused.size > 0) {
    const ids = [...seen.keys()];
    const inBatch = new Set(prepared.map((p) => p.id));
    const elsewhere = new Set((await consumptionsByIds(app.db, ids)).keys());
    for (const id of await pendingSubjects(app.db, ids)) elsewhere.add(id);
    for (const [index, r] of refused) {
      // taken by another request: refused now, or — in a repeat of a first answer noted — since that answer, which
      // failed this use (a use it answered is not judged here); a first request still running judges it as this one
      if (inBatch.has(r.id) || (elsewhere.has(r.id) && !options.repeat?.answered)) return reusedKey(bodies[index]!);
    }
  }
  const accepted =
    prepared.length > 0 ? await submitUses(app, prepared, { acceptedAt, batchKey: options.batchKey }) : ok([]);
  if (!accepted.ok) return accepted;
  if (!options.repeat) {
    await upsertConsumptionFailures(
      app.db,
      [...refused.values()].map((r) => ({
        id: r.id,
        idempotency_key: r.idempotency_key,
        code: r.code,
        detail: r.detail,
        failed_at: now,
      })),
    );
  }
  const applied = accepted.value[Symbol.iterator]();
  return ok(bodies.map((_, index) => answered.get(index) ?? refused.get(index) ?? applied.next().value!));
}

/**
 * What a batch's first request under its Idempotency-Key answered that a repeat of it must answer again: the uses it
 * failed at its door, by index, as answered (kept beside the key: `batchRepeatOf` reads it back).
 */
export const batchFirstAnswer = (answers: ReadonlyArray<AcceptedConsumption | FailedUse>): BatchFirstAnswer => ({
  failed: answers.flatMap((a, index) => (a.status === 'failed' ? [{ index, ...a }] : [])),
});

const batchFirstAnswerSchema = z.object({
  failed: z.array(failedUseSchema.extend({ index: z.number().int().min(0) })),
});
export type BatchFirstAnswer = z.infer<typeof batchFirstAnswerSchema>;

/** `acceptBatchUses`'s `repeat` from what the first request noted (`batchFirstAnswer`), if it noted it yet. */
export function batchRepeatOf(noted: unknown): { answered?: ReadonlyMap<number, FailedUse> } {
  const parsed = batchFirstAnswerSchema.safeParse(noted);
  if (!parsed.success) return {};
  return { answered: new Map(parsed.data.failed.map(({ index, ...failed }) => [index, failed])) };
}

/** A use of a batch whose (client, key) names another request: the whole batch is refused, as a reused key is. */
const reusedKey = (body: Pick<UseBody, 'client' | 'idempotency_key'>): Failure =>
  fail(
    'idempotency_conflict',
    `idempotency_key "${body.idempotency_key}" was used for client "${body.client}" with another payload`,
  );

/** The uses checked, handed to the command path: recorded (all or none), then enqueued, or carried in one batch job. */
async function submitUses(
  app: AppContext,
  prepared: readonly PreparedUse[],
  options: { acceptedAt: string; watch?: boolean; batchKey?: string },
): Promise<Result<AcceptedConsumption[]>> {
  const { acceptedAt } = options;
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
