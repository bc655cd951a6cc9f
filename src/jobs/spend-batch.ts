import type { AppContext } from '../app-context.js';
import { type Settlement, settle, settlementOf } from '../commands/index.js';
import { PG, pgCode } from '../db/knex.js';
import { lockSpendable } from '../db/repositories/consumptions.js';
import { inTransaction, type SqlClient } from '../db/sql-client.js';
import type { Lot } from '../domain/allocate.js';
import type { PreparedUse, UseContext, UseReport } from '../domain/consumption-request.js';
import { type Failure, ok, type Result } from '../domain/result.js';
import { acceptedJobIdsOf, applyOptimistically, ConcurrentDuplicateError, firstsAndRepeats } from './batch-apply.js';
import { refuseIfOwed, settlingOwed } from './sweep-owed.js';

/** A job of a spending batch as its micro-batcher hands it over (a `consume`, a `hold`). */
export interface SpendItem<D extends UseReport> {
  jobId: string;
  data: D;
  /** The job's enqueue time: the default occurred_at when neither it nor accepted_at is given. */
  enqueuedAt: Date;
  /** The accepted request it settles, when not `jobId` (a use carried by a `consume-batch` job). */
  settles?: string | undefined;
}

/** A row the batch writes, with the allocations its answer is made of. */
export interface Spent<Row, A> {
  row: Row;
  allocations: A[];
}

/**
 * What a spending job is made of (the rest is the skeleton's, applySpendBatch): its rows, the reads and the write of
 * its own tables, its plan and its answer. Made once per job kind: nothing here is made per batch.
 */
export interface SpendBatch<
  P extends PreparedUse,
  Row extends SpendRow,
  A,
  Plan extends Record<K, Map<string, Spent<Row, A>>>,
  K extends string,
  R,
> {
  /** The row's name in an error: `consumption`, `hold`. */
  noun: string;
  /** The plan's map of the rows it writes, by id (`applied`, `taken`): also how the error says what a row was. */
  taken: K;
  prepare(report: P['report'], context: UseContext): P | Failure;
  /** The rows written before, by id, in the batch's transaction. */
  existing(client: SqlClient, ids: readonly string[]): Promise<Map<string, Row>>;
  plan(lots: Lot[], fresh: readonly P[], now: Date): Plan;
  /** The plan's rows: as many as the write must insert. */
  rows(plan: Plan): readonly Row[];
  /** A row that came up short (its client may be owed a closing by the sweep). */
  short(row: Row): boolean;
  /** The plan written, in one statement that settles the accepted requests too: answers how many rows were new. */
  write(client: SqlClient, plan: Plan, settlement: Settlement, now: Date): Promise<number>;
  /** The allocations of rows written before, by row, in the batch's transaction. */
  replayAllocations(client: SqlClient, ids: readonly string[]): Promise<Map<string, A[]>>;
  answer(row: Row, allocations: A[], p: P, replayed: boolean): R;
  /** The same key used with another payload. */
  conflict(p: P): Failure;
  /**
   * What the job records of the items it refused for good (`prepare`'s failures: a reference that does not exist, a
   * quantity its credit type refuses, a time in the future), in the batch's transaction — or on its own when the
   * batch has nothing else to write — and the answer of each, in order: its failure, or what the records make of it
   * (a key another use has taken: a conflict). Run again with the batch (a retry): it must change nothing twice.
   */
  refused?(
    client: SqlClient,
    refusals: ReadonlyArray<Refusal<P['report']>>,
    context: RefusalContext,
  ): Promise<ReadonlyArray<Failure>>;
  /** Once the transaction committed, before the answers: what the job does with the rows it wrote. */
  whenWritten?(taken: ReadonlyMap<string, Spent<Row, A>>): void;
}

/** An item `prepare` refused, with its failure and its place in the batch. */
export interface Refusal<D extends UseReport> {
  index: number;
  report: D;
  failure: Failure;
}

/**
 * Where the refusals were decided: the references the batch resolved (the refused items' ids and fingerprints), its
 * clock, and the rows the batch writes (or answers from before), by id, each with the place of its first item.
 */
export interface RefusalContext {
  clients: UseContext['clients'];
  creditTypes: UseContext['creditTypes'];
  now: Date;
  accepted: ReadonlyMap<string, number>;
}

/** What the skeleton reads of a row: whose it is (a short one), the fingerprint of its payload (a repeat). */
interface SpendRow {
  client_id: string;
  request_hash: string;
}

/**
 * The skeleton of a batch that spends balances (`consume`, `hold`), many jobs at a time: lock, plan, write, in ONE
 * transaction whatever the batch size — lock every balance the batch may spend in the one lock order
 * (`lockSpendable`), plan in memory in arrival order, write with one statement that also settles the accepted
 * requests. Each job gets its own answer; a bad item answers its own failure and never fails its neighbours; a
 * database error throws, and the whole batch is retried (idempotency makes that safe). A row written before is
 * found by the write (optimistic: see applyOptimistically), and the batch runs again reading earlier answers first
 * (replays and idempotency conflicts).
 */
export async function applySpendBatch<
  P extends PreparedUse,
  Row extends SpendRow,
  A,
  Plan extends Record<K, Map<string, Spent<Row, A>>>,
  K extends string,
  R,
>(
  app: AppContext,
  items: ReadonlyArray<SpendItem<P['report']>>,
  spend: SpendBatch<P, Row, A, Plan, K, R>,
  options: { checkExisting?: boolean },
): Promise<Array<Result<R>>> {
  const now = app.clock.now();
  const outcomes: Array<Result<R>> = new Array(items.length);
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
      spend.prepare(item.data, {
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
  const refusals = spend.refused ? refusalsOf(items, outcomes) : [];
  const accepted = new Map(primaries.map((p) => [p.id, p.index]));
  const recordRefusals = async (client: SqlClient): Promise<ReadonlyArray<Failure>> =>
    refusals.length > 0 && spend.refused
      ? await spend.refused(client, refusals, { clients, creditTypes, now, accepted })
      : [];
  // each refused item's answer as its records made it, from the run that committed
  const answerRefusals = (answers: ReadonlyArray<Failure>) => {
    for (const [position, answer] of answers.entries()) outcomes[refusals[position]!.index] = answer;
  };
  if (primaries.length === 0 && acceptedJobIds.length === 0) {
    answerRefusals(await recordRefusals(app.sql));
    return outcomes;
  }

  const apply = (checkExisting: boolean, settled: boolean) =>
    inTransaction(app.sql, async (client) => {
      const refused = await recordRefusals(client);
      const existing = checkExisting
        ? await spend.existing(
            client,
            primaries.map((p) => p.id),
          )
        : new Map<string, Row>();
      const fresh = primaries.filter((p) => !existing.has(p.id));
      let taken = new Map<string, Spent<Row, A>>();
      if (fresh.length > 0) {
        const times = fresh.map((p) => p.occurredAt.getTime());
        const lots = await lockSpendable(client, {
          clientIds: fresh.map((p) => p.client.id),
          creditTypeIds: fresh.map((p) => p.creditType.id),
          from: new Date(Math.min(...times)),
          to: new Date(Math.max(...times)),
        });
        const plan = spend.plan(lots, fresh, now);
        const rows = spend.rows(plan);
        if (!settled)
          await refuseIfOwed(
            client,
            rows.filter((row) => spend.short(row)),
            now,
          );
        const settlement = settlementOf(acceptedJobIds);
        const inserted = await spend.write(client, plan, settlement, now).catch((error: unknown) => {
          // a row applied before collides with the one just made: a consumption's (its write does not skip it), a
          // hold's allocations (its write skips the hold itself; the count below finds one taken before)
          if (pgCode(error) === PG.uniqueViolation) throw new ConcurrentDuplicateError();
          throw error;
        });
        if (inserted !== rows.length) throw new ConcurrentDuplicateError();
        taken = plan[spend.taken];
      } else await settle(client, acceptedJobIds);
      const replayAllocations =
        existing.size > 0 ? await spend.replayAllocations(client, [...existing.keys()]) : new Map<string, A[]>();
      return { existing, taken, replayAllocations, refused };
    });
  // a use or a hold short for a client the sweep owes a closing (a hold or a freeze past its end) runs again after it
  const written = await settlingOwed(app, now, (settled) =>
    applyOptimistically((checkExisting) => apply(checkExisting, settled), options.checkExisting),
  );
  spend.whenWritten?.(written.taken);
  answerRefusals(written.refused);

  const answer = (p: P, replayed: boolean): Result<R> => {
    const fresh = written.taken.get(p.id);
    if (fresh) {
      if (replayed && fresh.row.request_hash !== p.hash) return spend.conflict(p);
      return ok(spend.answer(fresh.row, fresh.allocations, p, replayed));
    }
    const before = written.existing.get(p.id);
    if (!before) throw new Error(`${spend.noun} ${p.id} was neither ${spend.taken} nor found`);
    if (before.request_hash !== p.hash) return spend.conflict(p);
    return ok(spend.answer(before, written.replayAllocations.get(p.id) ?? [], p, true));
  };
  for (const p of primaries) outcomes[p.index] = answer(p, false);
  for (const p of repeats) outcomes[p.index] = answer(p, true);
  return outcomes;
}

/** The items `prepare` refused (their outcome set already, a failure), in order. */
function refusalsOf<D extends UseReport, R>(
  items: ReadonlyArray<SpendItem<D>>,
  outcomes: ReadonlyArray<Result<R> | undefined>,
): Array<Refusal<D>> {
  return items.flatMap((item, index) => {
    const outcome = outcomes[index];
    return outcome && !outcome.ok ? [{ index, report: item.data, failure: outcome }] : [];
  });
}
