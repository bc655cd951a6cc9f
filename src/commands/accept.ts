import { requestOf } from '@credits/producer/canonical-json';
import { Job, type JobsOptions } from 'bullmq';
import type { AppContext } from '../app-context.js';
import { type Executor, isTransaction } from '../db/knex.js';
import type { Page, PageRequest } from '../db/pagination.js';
import {
  acceptedForSubject,
  acceptedHashes,
  acceptedSubjects,
  deleteAccepted,
  insertAccepted,
  type QueuedHoldRow,
  queuedHolds,
} from '../db/repositories/accepted-jobs.js';
import { deleteJobFailures } from '../db/repositories/job-failures.js';
import { groupBy } from '../domain/group-by.js';
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
 * fingerprint and status of what it applied, by job id. Each kind of command knows where its effect
 * is stored (a consumption row, a recharge row), so the caller passes the lookup — a function of the
 * module that knows, so that the requests of a group that share it are looked up at once.
 */
export type SettledLookup = (
  db: Executor,
  commands: readonly Routed[],
) => Promise<Map<string, { requestHash: string; status: string }>>;

/**
 * `new`: recorded now. `pending`: the same request was accepted before and waits for its worker.
 * `settled`: the same request was applied before (`status` says how).
 */
export type Admission<N extends JobName = JobName> = Routed<N> &
  ({ state: 'new' } | { state: 'pending' } | { state: 'settled'; status: string });

export interface AcceptOptions<N extends JobName> {
  /**
   * One job that carries every command of the request to the workers instead of a job each (a
   * `consume-batch` for the uses of POST /v1/consumptions/batch): each command is still recorded on
   * its own, with the carrier's job id beside it.
   */
  carry?: Command;
  /** Where commands settled before are looked up (default: nowhere; their job ids never meet another payload). */
  settled?: SettledLookup;
  /** The 409's detail for a command whose job id was used with another payload, in the caller's words. */
  describeConflict?: (command: Routed<N>) => string;
  /**
   * The fingerprint (as `requestHash`) of the job Redis holds under a command's job id, from its data as stored (a
   * producer's job: `checkAdded`), or undefined when it cannot be made: tells the same request written otherwise (a
   * credit type by code or by id, a quantity as "3" or 3) from another one. Without it, their canonical JSON is.
   */
  heldHash?: (data: unknown) => Promise<string | undefined>;
}

/** One caller's commands, in a group accepted together. */
export interface AcceptRequest<N extends JobName = JobName> {
  commands: ReadonlyArray<Command<N>>;
  /** `commands` already routed, in the same order (the Admitter routes each request once, on submit). */
  routed?: ReadonlyArray<Routed<N>>;
  options?: AcceptOptions<N>;
  /**
   * The job that will carry these commands, chosen by whoever groups the request with others (the
   * Admitter's carrier of a group's single uses): recorded beside each command, as `carry`'s is.
   */
  carrierJobId?: string;
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
  // describeConflict is the one member typed by N; it is only ever called with this call's commands
  const [result] = await acceptGroup(db, [{ commands, options: options as AcceptOptions<JobName> }]);
  return result as Result<Array<Admission<N>>>;
}

/**
 * Records the commands of many requests at once — one statement for all, plus one read per kind of
 * settled lookup — each request all or none and answered on its own: a conflict in one refuses that
 * one, never its neighbours. The requests' job ids must be distinct from one request to another
 * (the Admitter sees to it). This is what lets the API pay one round trip for a group of requests.
 */
export async function acceptGroup(
  db: Executor,
  requests: readonly AcceptRequest[],
): Promise<Array<Result<Admission[]>>> {
  const results: Array<Result<Admission[]> | undefined> = new Array(requests.length);
  const hashOf = (c: Routed): string => c.requestHash ?? c.jobId;
  const conflictOf = (index: number, c: Routed) =>
    fail(
      'idempotency_conflict',
      (requests[index]!.options?.describeConflict as ((c: Routed) => string) | undefined)?.(c) ??
        `this request (job ${c.jobId}) was accepted before with another payload`,
    );

  // 1. each request's commands, one per job id (the same job id twice must carry one payload)
  const routed = requests.map((r) => (r.routed ?? r.commands.map(route)) as Routed[]);
  const carriers = requests.map((r) => r.carrierJobId ?? (r.options?.carry ? route(r.options.carry).jobId : undefined));
  const distinct: Routed[][] = routed.map((commands, index) => {
    const first = new Map<string, Routed>();
    for (const c of commands) {
      const seen = first.get(c.jobId);
      if (seen && hashOf(seen) !== hashOf(c)) results[index] ??= conflictOf(index, c);
      if (!seen) first.set(c.jobId, c);
    }
    return [...first.values()];
  });

  // 2. one statement for the commands of every request still standing. It is written before what was
  // settled is looked up, never after: a lookup made first could miss a request applied (and its row
  // deleted) between the lookup and the insert, and the insert would then record a second payload
  // under an applied job id and answer 202 for it. Looked up after the insert, an applied request's
  // effect has committed with its row's deletion, before the insert found the job id free.
  const drafts = distinct.flatMap((commands, index) =>
    results[index]
      ? []
      : commands.map((c) => ({
          request: index,
          jobId: c.jobId,
          queue: c.queue,
          name: c.name,
          data: c.data,
          requestHash: hashOf(c),
          subjectId: c.subjectId ?? null,
          carrierJobId: carriers[index] ?? null,
        })),
  );
  const written = await insertAccepted(db, drafts);
  const byId = new Map(written.map((w) => [w.jobId, w]));
  // A pending row with another payload is a conflict — unless the job id was applied before with this
  // payload: the row is then a refused request's, written a moment before its own lookup refuses it (and
  // takes it back), and this request is a repeat of the applied one, answered as such, not 409. Where
  // settled commands are looked up, such a command is decided by the lookup (4.); elsewhere at once.
  const suspects = new Set<string>();
  const otherPayload = (index: number, c: Routed) => {
    if (requests[index]!.options?.settled) suspects.add(c.jobId);
    else results[index] ??= conflictOf(index, c);
  };
  distinct.forEach((commands, index) => {
    if (results[index]) return;
    for (const c of commands) {
      const prior = byId.get(c.jobId)?.priorHash;
      if (prior !== null && prior !== undefined && prior !== hashOf(c)) otherPayload(index, c);
    }
  });

  // 3. Neither written nor seen: a concurrent request was writing the same job id and committed
  // while the statement waited for it. Read what it wrote (when it is gone, it was applied since:
  // the lookup below finds where it went).
  const unseen = written.filter((w) => !w.fresh && w.priorHash === null && !results[w.request]);
  const pendingHash =
    unseen.length > 0
      ? await acceptedHashes(
          db,
          unseen.map((w) => w.jobId),
        )
      : new Map<string, string>();
  for (const w of unseen) {
    const c = distinct[w.request]!.find((x) => x.jobId === w.jobId)!;
    const hash = pendingHash.get(w.jobId);
    if (hash !== undefined && hash !== hashOf(c) && !results[w.request]) otherPayload(w.request, c);
  }

  // 4. what was settled before, one read per lookup for every request that names it and still stands —
  // every command, its row pending or not: a pending row, with this payload or another, may be a refused
  // request's, written a moment before its own lookup refuses it (and takes it back). Settled with another
  // payload, the command is 409 (else a request repeating a refused one's payload would wait for the job
  // of the applied one and answer its result); settled with this one, a repeat; a suspect not settled, 409
  const settled = new Map<string, { requestHash: string; status: string }>();
  const lookups = new Map<SettledLookup, Routed[]>();
  distinct.forEach((commands, index) => {
    const lookup = requests[index]!.options?.settled;
    if (!lookup || results[index]) return;
    const list = lookups.get(lookup) ?? [];
    list.push(...commands);
    lookups.set(lookup, list);
  });
  for (const [lookup, commands] of lookups)
    for (const [id, before] of await lookup(db, commands)) settled.set(id, before);
  distinct.forEach((commands, index) => {
    if (results[index]) return;
    const clash = commands.find((c) => {
      const before = settled.get(c.jobId);
      return before !== undefined ? before.requestHash !== hashOf(c) : suspects.has(c.jobId);
    });
    if (clash) results[index] = conflictOf(index, clash);
  });

  // 5. Take back what this statement wrote and must not stand: the rows of a refused request (all or
  // nothing: nothing may be applied behind its 409 — in a transaction the caller's rollback undoes
  // them) and the rows of commands applied before (their job is not enqueued again).
  const takeBack = written.filter(
    (w) => w.fresh && ((results[w.request] && !isTransaction(db)) || (!results[w.request] && settled.has(w.jobId))),
  );
  await deleteAccepted(
    db,
    takeBack.map((w) => w.jobId),
  );

  return routed.map((commands, index) => {
    const refused = results[index];
    if (refused) return refused;
    return ok(
      commands.map((c): Admission => {
        const before = settled.get(c.jobId);
        if (before) return { ...c, state: 'settled', status: before.status };
        return { ...c, state: byId.get(c.jobId)?.fresh ? 'new' : 'pending' };
      }),
    );
  });
}

/** Jobs of which one failed for good changed nothing and left its key free (a use): replaced by another payload. */
const REPLACED_WHEN_FAILED: ReadonlySet<JobName> = new Set<JobName>(['consume']);

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
  const byQueue = groupBy(toQueue, (c) => c.queue);
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

/**
 * The commands recorded now (`new`) as Redis holds their jobs after the add — BullMQ's add does nothing for an id it
 * holds (read after the add, which catches an earlier job and a concurrent one alike, in one pipelined round trip):
 * - held with another payload (a producer's, pushed straight into the queue: nothing of it in Postgres): the
 *   command's job was not added, its payload would never be applied and a waiter would be answered the other one's
 *   result. Its accepted row is taken back and its job id answered: the caller refuses its request with
 *   idempotency_conflict, as a pending row of another payload is. Compared are the commands whose payload is part of
 *   what they ask (a `requestHash`: a use, a hold, a recharge, a renewal): a reversal, a capture, a release are named
 *   whole by their job id. But a use's job of another payload that failed for good (a producer's, refused by the
 *   worker: a credit type that does not exist…) changed nothing and left its key free (README; the producer replaces
 *   it too): it is removed, and this command's job added in its place (when `added`), not a conflict.
 * - held failed for good: an earlier request's (a producer's reversal taken before its consumption was applied, a
 *   renewal asked for while its subscription was suspended), which this one, accepted now, may no longer fail. The
 *   job is run again (a job applies nothing twice): left as it was, it would answer its old failure, and the row
 *   recorded now would wait until Redis forgot the job.
 * - held with this request but not as added (its text is not the one just added: another `accepted_at`): an
 *   earlier request's job, still held — a producer's. This one met it, as a request whose row was pending meets its
 *   job: answered in `met`, so that its caller is answered that job's result as a repeat (`replayed`).
 * A pending command (its row written before) is looked at for another payload only. A read that fails leaves
 * everything as the add left it. With `added: false` the commands' jobs are not added under
 * their own ids (uses a carrier takes): only another payload there is looked for, before they are carried.
 */
export async function checkAdded(
  app: AppContext,
  added: ReadonlyArray<Admission>,
  options: { added?: boolean; heldHash?: (c: Admission, data: unknown) => Promise<string | undefined> } = {},
): Promise<{ clashed: Set<string>; met: Set<string> }> {
  const clashed = new Set<string>();
  const met = new Set<string>();
  // a pending command is looked at too, for another payload only: its row's request (this payload) may have been
  // refused a moment ago, or its job lost by Redis and the id taken since by a producer's job
  const fresh = added.filter((c) => c.state === 'new' || c.state === 'pending');
  if (fresh.length === 0) return { clashed, met };
  let held: Array<[string | null, string | null]>;
  try {
    held = await Promise.all(
      fresh.map((c) => {
        const queue = app.queues[c.queue];
        return Promise.all([
          app.redis.hget(queue.toKey(c.jobId), 'data'),
          // a use about to be carried runs in its carrier whatever Redis holds under its id: not asked
          options.added === false || c.state !== 'new' ? null : app.redis.zscore(queue.toKey('failed'), c.jobId),
        ]);
      }),
    );
  } catch (error) {
    app.log.warn({ err: error, count: fresh.length }, 'could not read back the jobs just added');
    return { clashed, met };
  }
  const rerun: Admission[] = [];
  const replaced: Admission[] = [];
  /** Whether the held job of another payload is a use's that failed for good: replaced, not a conflict. */
  const replaceable = async (c: Admission, failedAt: string | null): Promise<boolean> => {
    if (!REPLACED_WHEN_FAILED.has(c.name)) return false;
    try {
      return (failedAt ?? (await app.redis.zscore(app.queues[c.queue].toKey('failed'), c.jobId))) !== null;
    } catch {
      return false;
    }
  };
  /** Whether Redis holds another request than `c` (read only where the payloads' text differs: rarely). */
  const otherRequest = async (c: Admission, stored: string): Promise<boolean> => {
    const data: unknown = JSON.parse(stored);
    if (requestOf(c.name, data) === requestOf(c.name, c.data)) return false;
    return (await options.heldHash?.(c, data)) !== c.requestHash;
  };
  for (const [i, c] of fresh.entries()) {
    const [stored, failedAt] = held[i]!;
    if (c.requestHash !== undefined && typeof stored === 'string' && (await otherRequest(c, stored))) {
      if (await replaceable(c, failedAt)) replaced.push(c);
      else clashed.add(c.jobId);
    } else if (options.added !== false && c.state === 'new') {
      if (typeof stored === 'string' && stored !== JSON.stringify(c.data)) met.add(c.jobId);
      if (failedAt !== null) rerun.push(c);
    }
  }
  await deleteAccepted(app.db, [...clashed]);
  // the failures stored for the jobs run again are forgotten first: a stale one would answer for the new run (a
  // waiter's failure, the relay taking a run that failed only transiently for settled); written again if it fails
  await deleteJobFailures(
    app.db,
    [...rerun, ...replaced].map((c) => c.jobId),
  );
  await Promise.all(
    replaced.map(async (c) => {
      try {
        const queue = app.queues[c.queue];
        await queue.remove(c.jobId);
        if (options.added !== false) await queue.add(c.name, c.data, { ...c.options, jobId: c.jobId });
      } catch (error) {
        // Redis away: the accepted row stays, and the relay enqueues it once Redis holds no job under its id
        app.log.warn({ err: error, jobId: c.jobId }, 'could not replace a failed job of another payload');
      }
    }),
  );
  await Promise.all(
    rerun.map(async (c) => {
      try {
        // run as a new request: its attempts counted afresh
        const job = await Job.fromId(app.queues[c.queue], c.jobId);
        await job?.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      } catch (error) {
        // gone or moved meanwhile (the relay enqueues a row whose job Redis no longer holds), or Redis away
        app.log.warn({ err: error, jobId: c.jobId }, 'could not run a failed job again');
      }
    }),
  );
  return { clashed, met };
}

/** Redis answers: a producer connection that is not ready fails fast, and the API says 503 instead of accepting. */
export const queueReachable = (app: AppContext): boolean => app.redis.status === 'ready';

export const unreachable = () =>
  fail('unavailable', 'the queue (Redis) cannot be reached; nothing was accepted, retry later');

/** Whether a command about this subject (a consumption's id) was accepted and waits for its worker. */
export const isPending = (db: Executor, subjectId: string): Promise<boolean> => acceptedForSubject(db, subjectId);

/** Of these subjects (consumptions' ids), those a command was accepted about and waits for its worker. */
export const pendingSubjects = (db: Executor, subjectIds: readonly string[]): Promise<Set<string>> =>
  acceptedSubjects(db, subjectIds);

/** Hold requests accepted and still waiting for their worker, oldest first (GET /v1/holds?status=queued). */
export const pendingHolds = (
  db: Executor,
  page: PageRequest,
  client: { id: string; externalRef: string } | undefined,
): Promise<Page<QueuedHoldRow>> => queuedHolds(db, page, client);
