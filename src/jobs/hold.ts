import type { AppContext } from '../app-context.js';
import { type SettledLookup, submit, type Watch } from '../commands/index.js';
import {
  type HoldAllocationRow,
  type HoldRow,
  holdAllocationsIn,
  holdsIn,
  takenHolds,
  writeHoldBatch,
} from '../db/repositories/holds.js';
import { type HoldPlan, type PreparedHold, planHolds, prepareHold } from '../domain/hold.js';
import { type Failure, fail, ok, type Result } from '../domain/result.js';
import { type HoldResult, toHoldResult } from '../views/hold.js';
import { JOBS, type JobPayload, jobIdOf } from './definitions.js';
import { rememberHoldClient } from './hold-lanes.js';
import type { BatchItem } from './registry.js';
import { applySpendBatch, type SpendBatch } from './spend-batch.js';

const conflict = (p: PreparedHold): Failure =>
  fail(
    'idempotency_conflict',
    `idempotency_key "${p.report.idempotency_key}" was used for a hold of client "${p.client.externalRef}" ` +
      'with another payload',
  );

/** What the `hold` job is made of in the skeleton it shares with `consume` (jobs/spend-batch.ts). */
const holdBatch: SpendBatch<PreparedHold, HoldRow, HoldAllocationRow, HoldPlan, 'taken', HoldResult> = {
  noun: 'hold',
  taken: 'taken',
  prepare: prepareHold,
  existing: holdsIn,
  plan: planHolds,
  rows: (plan) => plan.holds,
  short: (h) => h.status === 'rejected',
  write: (client, plan, settlement, now) => writeHoldBatch(client, { ...plan, settlement, now }),
  replayAllocations: holdAllocationsIn,
  answer: (row, allocations, p, replayed) => toHoldResult(row, allocations, p.client, p.creditType, replayed),
  conflict,
  whenWritten: (taken) => {
    // their captures and releases go to their client's lane (hold-lanes.ts)
    for (const { row } of taken.values()) if (row.status === 'held') rememberHoldClient(row.id, row.client_id);
  },
};

/**
 * The `hold` job, many at a time, exactly like `consume` (jobs/consume.ts; the skeleton both share is
 * jobs/spend-batch.ts): ONE transaction locks every balance the holds may take from in the one lock order (the
 * consumption lock, `lockSpendable`), plans them with the consumption's burn-down (`planHolds`), and writes holds,
 * allocations, balances, ledger entries and the settling of the accepted requests in one statement. A hold taken
 * before is answered from its row (a repeat changes nothing); another payload under its key is a conflict.
 */
export function applyHolds(
  app: AppContext,
  items: ReadonlyArray<BatchItem<'hold'>>,
  options: { checkExisting?: boolean } = {},
): Promise<Array<Result<HoldResult>>> {
  return applySpendBatch(app, items, holdBatch, options);
}

/** A hold as POST /v1/holds accepted it. */
export interface AcceptedHold {
  id: string;
  jobId: string;
  status: 'queued' | HoldRow['status'];
  fresh: boolean;
  watch?: Watch<'hold'>;
}

/**
 * The accepting side of the `hold` job (POST /v1/holds, like POST /v1/consumptions): checks what can
 * be checked before the worker, then hands the hold to the command path, which records and enqueues it.
 */
export async function acceptHold(
  app: AppContext,
  body: Omit<JobPayload<'hold'>, 'accepted_at'>,
  options: { watch?: boolean } = {},
): Promise<Result<AcceptedHold>> {
  const now = app.clock.now();
  const clients = await app.refs.clientsFor(app.db, [body.client]);
  const creditTypes = await app.refs.creditTypesFor(app.db, [body.credit_type]);
  const p = prepareHold(
    { ...body, accepted_at: now.toISOString() },
    { index: 0, jobId: '', enqueuedAt: now, now, clients, creditTypes },
  );
  if ('ok' in p) return p;
  const data = { ...p.report, client: p.client.id };
  const submitted = await submit(app, [{ name: 'hold' as const, data, requestHash: p.hash, subjectId: p.id }], {
    describeConflict: () => conflict(p).detail,
    settled: settledHolds,
    heldHash: async (held) => {
      // a producer's hold under this job id: the same hold written otherwise is not another payload
      const parsed = JOBS.hold.schema.safeParse(held);
      if (!parsed.success) return undefined;
      const named = {
        clients: await app.refs.clientsFor(app.db, [parsed.data.client]),
        creditTypes: await app.refs.creditTypesFor(app.db, [parsed.data.credit_type]),
      };
      const h = prepareHold(parsed.data, { index: 0, jobId: '', enqueuedAt: now, now, ...named });
      return 'ok' in h ? undefined : h.hash;
    },
    watch: options.watch ?? false,
  });
  if (!submitted.ok) return submitted;
  const admission = submitted.value[0]!;
  return ok({
    id: p.id,
    jobId: admission.jobId,
    status: admission.state === 'settled' ? (admission.status as HoldRow['status']) : 'queued',
    fresh: admission.state === 'new',
    ...(admission.watch ? { watch: admission.watch } : {}),
  });
}

const settledHolds: SettledLookup = async (db, commands) => {
  const taken = await takenHolds(
    db,
    commands.flatMap((c) => (c.subjectId ? [c.subjectId] : [])),
  );
  return new Map(
    commands.flatMap((c) => {
      const found = c.subjectId ? taken.get(c.subjectId) : undefined;
      return found ? [[c.jobId, found] as const] : [];
    }),
  );
};

/** The job id a capture or release of `holdId` runs under. */
export const closingJobId = (action: 'capture' | 'release', holdId: string): string =>
  action === 'capture' ? jobIdOf('capture', { hold_id: holdId }) : jobIdOf('release', { hold_id: holdId });
