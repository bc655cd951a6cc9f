import type { JobsOptions } from 'bullmq';
import type { AppContext } from '../app-context.js';
import { type Executor, isTransaction } from '../db/knex.js';
import {
  acceptedForSubject,
  acceptedHashes,
  deleteAccepted,
  insertAccepted,
} from '../db/repositories/accepted-jobs.js';
import { fail, ok, type Result } from '../domain/result.js';
import { JOBS, type JobData, type JobName, jobIdOf } from '../jobs/definitions.js';
import type { QueueName } from '../queue/names.js';

/** A request to run job `name`: what the API, the scheduler, the relay and the pages hand to this module. */
export interface Command<N extends JobName = JobName> {
  name: N;
  data: JobData<N>;
  /**
   * The request's fingerprint: the same job id with another fingerprint is `idempotency_conflict`.
   * Defaults to the job id itself (for jobs whose id names everything they do).
   */
  requestHash?: string;
  /** What the job creates or changes (a consumption's id), so that "queued" can be answered for it. */
  subjectId?: string | null;
  /** BullMQ options beyond the queue's defaults (attempts and backoff of a webhook delivery). */
  options?: JobsOptions;
}

/** Which queue and job id a command goes to (API.md's job table). */
export interface Routed<N extends JobName = JobName> extends Command<N> {
  queue: QueueName;
  jobId: string;
}

export const route = <N extends JobName>(command: Command<N>): Routed<N> => ({
  ...command,
  queue: JOBS[command.name].queue,
  jobId: jobIdOf(command.name, command.data),
});

/**
 * What became of a command that was settled before this request (its accepted row is gone): the
 * fingerprint and status of what it applied. Each kind of command knows where its effect is
 * stored (a consumption row, a recharge row), so the caller passes the lookup.
 */
export type SettledLookup = (
  jobIds: readonly string[],
) => Promise<Map<string, { requestHash: string; status: string }>>;

/**
 * `new`: recorded now. `pending`: the same request was accepted before and waits for its worker.
 * `settled`: the same request was applied before (`status` says how).
 */
export type Admission<N extends JobName = JobName> = Routed<N> &
  ({ state: 'new' } | { state: 'pending' } | { state: 'settled'; status: string });

export interface AcceptOptions<N extends JobName> {
  /** Where commands settled before are looked up (default: nowhere; their job ids never meet another payload). */
  settled?: SettledLookup;
  /** The 409's detail for a command whose job id was used with another payload, in the caller's words. */
  describeConflict?: (command: Routed<N>) => string;
}

/**
 * Records commands as accepted, all or none, in the caller's transaction when `db` is one (the run
 * of a report and its job commit together) or on their own otherwise. A command whose job id was
 * accepted before with another payload is `idempotency_conflict` and nothing is recorded. The caller
 * enqueues the admitted commands once `db` has committed (`enqueue`).
 */
export async function accept<N extends JobName>(
  db: Executor,
  commands: ReadonlyArray<Command<N>>,
  options: AcceptOptions<N> = {},
): Promise<Result<Array<Admission<N>>>> {
  const conflict = (c: Routed<N>) =>
    fail(
      'idempotency_conflict',
      options.describeConflict?.(c) ?? `this request (job ${c.jobId}) was accepted before with another payload`,
    );
  const routed = commands.map(route);
  const hashOf = (c: Routed<N>): string => c.requestHash ?? c.jobId;
  // the same job id twice in one call is one command, and must carry one payload
  const first = new Map<string, Routed<N>>();
  for (const c of routed) {
    const seen = first.get(c.jobId);
    if (seen && hashOf(seen) !== hashOf(c)) return conflict(c);
    if (!seen) first.set(c.jobId, c);
  }
  const settledBefore = options.settled ? await options.settled(routed.map((c) => c.jobId)) : new Map<string, never>();
  for (const c of routed) {
    const before = settledBefore.get(c.jobId);
    if (before && before.requestHash !== hashOf(c)) return conflict(c);
  }
  const open = [...first.values()].filter((c) => !settledBefore.has(c.jobId));
  const written = await insertAccepted(
    db,
    open.map((c) => ({
      jobId: c.jobId,
      queue: c.queue,
      name: c.name,
      data: c.data,
      requestHash: hashOf(c),
      subjectId: c.subjectId ?? null,
    })),
  );
  const byId = new Map(written.map((w) => [w.jobId, w]));
  const clash = open.find((c) => {
    const prior = byId.get(c.jobId)?.priorHash;
    return prior !== null && prior !== undefined && prior !== hashOf(c);
  });
  if (clash) return conflict(clash);

  // Neither written nor seen: a concurrent request was writing the same job id and committed while
  // this statement waited for it. Read what it wrote; if it was applied since, ask where it went.
  const unseen = open.filter((c) => {
    const w = byId.get(c.jobId);
    return w !== undefined && !w.fresh && w.priorHash === null;
  });
  if (unseen.length > 0) {
    const ids = unseen.map((c) => c.jobId);
    const hashes = await acceptedHashes(db, ids);
    const gone = ids.filter((id) => !hashes.has(id));
    const applied = gone.length > 0 && options.settled ? await options.settled(gone) : new Map<string, never>();
    const lost = unseen.find((c) => {
      const hash = hashes.get(c.jobId) ?? applied.get(c.jobId)?.requestHash;
      return hash !== undefined && hash !== hashOf(c);
    });
    if (lost) {
      // all or nothing: what this call wrote must not be applied behind a 409 (in a transaction the
      // caller's rollback undoes it; on its own, it is taken back here before anyone enqueued it)
      if (!isTransaction(db))
        await deleteAccepted(
          db,
          written.filter((w) => w.fresh).map((w) => w.jobId),
        );
      return conflict(lost);
    }
  }

  return ok(
    routed.map((c): Admission<N> => {
      const before = settledBefore.get(c.jobId);
      if (before) return { ...c, state: 'settled', status: before.status };
      return { ...c, state: byId.get(c.jobId)?.fresh ? 'new' : 'pending' };
    }),
  );
}

/** A job as it goes to Redis: a routed command, an admission, or an accepted row the relay found missing. */
export interface QueuedJob {
  name: JobName;
  queue: QueueName;
  jobId: string;
  data: unknown;
  options?: JobsOptions | undefined;
  state?: Admission['state'];
}

/**
 * Puts jobs on their queues, one addBulk per queue. A job id BullMQ still holds is not added twice,
 * so enqueueing again what is pending (a client's retry, the relay) is harmless. When Redis fails
 * here, accepted commands stay accepted — the relay enqueues what Redis does not hold — and this
 * answers false; jobs that were not accepted first (`accepted: false`: maintenance, deliveries)
 * have no such net, so the error is the caller's.
 */
export async function enqueue(
  app: AppContext,
  jobs: readonly QueuedJob[],
  options: { accepted?: boolean } = {},
): Promise<boolean> {
  const toQueue = jobs.filter((c) => c.state !== 'settled');
  const byQueue = new Map<QueueName, QueuedJob[]>();
  for (const c of toQueue) {
    const list = byQueue.get(c.queue);
    if (list) list.push(c);
    else byQueue.set(c.queue, [c]);
  }
  try {
    for (const [queue, list] of byQueue) {
      await app.queues[queue].addBulk(
        list.map((c) => ({ name: c.name, data: c.data, opts: { ...c.options, jobId: c.jobId } })),
      );
    }
    return true;
  } catch (error) {
    if (options.accepted === false) throw error;
    app.log.warn(
      { err: error, jobIds: toQueue.slice(0, 10).map((c) => c.jobId), count: toQueue.length },
      'enqueue failed after accepting; the relay will retry',
    );
    return false;
  }
}

/** Redis answers: a producer connection that is not ready fails fast, and the API says 503 instead of accepting. */
export const queueReachable = (app: AppContext): boolean => app.redis.status === 'ready';

export const unreachable = () =>
  fail('unavailable', 'the queue (Redis) cannot be reached; nothing was accepted, retry later');

/**
 * Accepts commands on their own (no transaction of the caller's) and enqueues them: the whole path
 * of a request that only asks for jobs. Refused with `unavailable` while Redis cannot be reached, so
 * that a 202 is never answered for work that would wait for the relay.
 */
export async function submit<N extends JobName>(
  app: AppContext,
  commands: ReadonlyArray<Command<N>>,
  options: AcceptOptions<N> = {},
): Promise<Result<Array<Admission<N>>>> {
  if (!queueReachable(app)) return unreachable();
  const admitted = await accept(app.db, commands, options);
  if (admitted.ok) await enqueue(app, admitted.value);
  return admitted;
}

/** Whether a command about this subject (a consumption's id) was accepted and waits for its worker. */
export const isPending = (db: Executor, subjectId: string): Promise<boolean> => acceptedForSubject(db, subjectId);
