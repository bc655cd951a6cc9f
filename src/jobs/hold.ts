import type { AppContext } from '../app-context.js';
import { type SettledLookup, settle, settlementOf, submit, type Watch } from '../commands/index.js';
import { PG, pgCode } from '../db/knex.js';
import { lockSpendable } from '../db/repositories/consumptions.js';
import {
  type HoldAllocationRow,
  type HoldRow,
  holdAllocationsIn,
  holdsIn,
  takenHolds,
  writeHoldBatch,
} from '../db/repositories/holds.js';
import { inTransaction } from '../db/sql-client.js';
import { type PreparedHold, planHolds, prepareHold } from '../domain/hold.js';
import { type Failure, fail, ok, type Result } from '../domain/result.js';
import { type HoldResult, toHoldResult } from '../views/hold.js';
import { acceptedJobIdsOf, applyOptimistically, ConcurrentDuplicateError, firstsAndRepeats } from './batch-apply.js';
import { JOBS, type JobPayload, jobIdOf } from './definitions.js';
import { rememberHoldClient } from './hold-lanes.js';
import type { BatchItem } from './registry.js';
import { refuseIfOwed, settlingOwed } from './sweep-owed.js';

const conflict = (p: PreparedHold): Failure =>
  fail(
    'idempotency_conflict',
    `idempotency_key "${p.report.idempotency_key}" was used for a hold of client "${p.client.externalRef}" ` +
      'with another payload',
  );

/**
 * The `hold` job, many at a time, exactly like `consume` (jobs/consume.ts): ONE transaction locks
 * every balance the holds may take from in the one lock order (the consumption lock, `lockSpendable`),
 * plans them with the consumption's burn-down (`planHolds`), and writes holds, allocations, balances,
 * ledger entries and the settling of the accepted requests in one statement. A hold taken before is
 * answered from its row (a repeat changes nothing); another payload under its key is a conflict.
 */
export async function applyHolds(
  app: AppContext,
  items: ReadonlyArray<BatchItem<'hold'>>,
  options: { checkExisting?: boolean } = {},
): Promise<Array<Result<HoldResult>>> {
  const now = app.clock.now();
  const outcomes: Array<Result<HoldResult>> = new Array(items.length);
  const clients = await app.refs.clientsFor(
    app.db,
    items.map((i) => i.data.client),
  );
  const creditTypes = await app.refs.creditTypesFor(
    app.db,
    items.map((i) => i.data.credit_type),
  );
  const { primaries, repeats } = firstsAndRepeats(
    items,
    (item, index) =>
      prepareHold(item.data, {
        index,
        jobId: item.jobId,
        enqueuedAt: item.enqueuedAt,
        now,
        clients,
        creditTypes,
      }),
    outcomes,
  );
  const acceptedJobIds = acceptedJobIdsOf(items);
  if (primaries.length === 0 && acceptedJobIds.length === 0) return outcomes;

  const apply = (checkExisting: boolean, settled: boolean) =>
    inTransaction(app.sql, async (client) => {
      const existing = checkExisting
        ? await holdsIn(
            client,
            primaries.map((p) => p.id),
          )
        : new Map<string, HoldRow>();
      const fresh = primaries.filter((p) => !existing.has(p.id));
      let taken = new Map<string, { row: HoldRow; allocations: HoldAllocationRow[] }>();
      if (fresh.length > 0) {
        const times = fresh.map((p) => p.occurredAt.getTime());
        const lots = await lockSpendable(client, {
          clientIds: fresh.map((p) => p.client.id),
          creditTypeIds: fresh.map((p) => p.creditType.id),
          from: new Date(Math.min(...times)),
          to: new Date(Math.max(...times)),
        });
        const plan = planHolds(lots, fresh, now);
        if (!settled)
          await refuseIfOwed(
            client,
            plan.holds.filter((h) => h.status === 'rejected'),
            now,
          );
        const inserted = await writeHoldBatch(client, {
          ...plan,
          settlement: settlementOf(acceptedJobIds),
          now,
        }).catch((error: unknown) => {
          if (pgCode(error) === PG.uniqueViolation) throw new ConcurrentDuplicateError();
          throw error;
        });
        if (inserted !== plan.holds.length) throw new ConcurrentDuplicateError();
        taken = plan.taken;
      } else await settle(client, acceptedJobIds);
      const replayAllocations =
        existing.size > 0
          ? await holdAllocationsIn(client, [...existing.keys()])
          : new Map<string, HoldAllocationRow[]>();
      return { existing, taken, replayAllocations };
    });
  const written = await settlingOwed(app, now, (settled) =>
    applyOptimistically((checkExisting) => apply(checkExisting, settled), options.checkExisting),
  );
  // their captures and releases go to their client's lane (hold-lanes.ts)
  for (const { row } of written.taken.values()) if (row.status === 'held') rememberHoldClient(row.id, row.client_id);

  const answer = (p: PreparedHold, replayed: boolean): Result<HoldResult> => {
    const fresh = written.taken.get(p.id);
    if (fresh) {
      if (replayed && fresh.row.request_hash !== p.hash) return conflict(p);
      return ok(toHoldResult(fresh.row, fresh.allocations, p.client, p.creditType, replayed));
    }
    const before = written.existing.get(p.id);
    if (!before) throw new Error(`hold ${p.id} was neither taken nor found`);
    if (before.request_hash !== p.hash) return conflict(p);
    return ok(toHoldResult(before, written.replayAllocations.get(p.id) ?? [], p.client, p.creditType, true));
  };
  for (const p of primaries) outcomes[p.index] = answer(p, false);
  for (const p of repeats) outcomes[p.index] = answer(p, true);
  return outcomes;
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
