import { SpanKind } from '@opentelemetry/api';
import type { AppContext } from '../app-context.js';
import { deleteAccepted } from '../db/repositories/accepted-jobs.js';
import { fail, type Result } from '../domain/result.js';
import { newId } from '../ids.js';
import { type JobData, type JobName, MAX_BATCH_USES } from '../jobs/definitions.js';
import { stageTimes } from '../stage-times.js';
import { inSpan, jobTraceMetadata, tracingEnabled } from '../telemetry.js';
import {
  type AcceptOptions,
  type Admission,
  acceptGroup,
  type Command,
  checkAdded,
  enqueue,
  type QueuedJob,
  queueReachable,
  type Routed,
  route,
  unreachable,
} from './accept.js';
import { CarriedWatch } from './carried-watch.js';
import { type Watch, watchOutcome } from './outcome.js';

/** How many commands a group holds at most, and how long its first request waits for company. */
export interface AdmitterSettings {
  maxCommands: number;
  maxWaitMs: number;
  /** Groups being written at once. */
  maxInFlight: number;
}

type Admitted = Admission & { watch?: Watch<JobName> };

interface Waiting {
  commands: ReadonlyArray<Command>;
  /** The commands routed once, here: acceptGroup, the group's job ids and the enqueue all read these. */
  routed: ReadonlyArray<Routed>;
  jobIds: ReadonlySet<string>;
  options: AcceptOptions<JobName> & { watch?: boolean };
  resolve(result: Result<Admitted[]>): void;
  reject(error: unknown): void;
}

/**
 * Groups the commands that concurrent requests submit (every `maxWaitMs` or `maxCommands`,
 * whichever comes first; at once when no group is being written) and pays once per group what each
 * paid before: one statement records them all in `accepted_jobs` (each request all or none,
 * answered on its own — acceptGroup), one addBulk per queue enqueues them after it. A 202 still
 * means recorded in Postgres: a caller is answered only once its group's statement has committed.
 * The same idea as the worker's micro-batcher, at the front door (PERFORMANCE.md "The front door").
 * The group's single uses travel in one `consume-batch` carrier (carriersOf).
 */
export class Admitter {
  private waiting: Waiting[] = [];
  /** The flush to come: `maxWaitMs` behind a group being written, or at the end of this turn when none is. */
  private timer:
    | { kind: 'timeout'; handle: NodeJS.Timeout }
    | { kind: 'immediate'; handle: NodeJS.Immediate }
    | undefined;
  private inFlight = 0;
  /** The commands of `waiting`, counted as they come and go (not summed again on every submit). */
  private waitingCommands = 0;

  constructor(
    private readonly app: AppContext,
    private readonly settings: AdmitterSettings,
  ) {}

  submit<N extends JobName>(
    commands: ReadonlyArray<Command<N>>,
    options: AcceptOptions<N> & { watch?: boolean },
  ): Promise<Result<Array<Admission<N> & { watch?: Watch<N> }>>> {
    return new Promise((resolve, reject) => {
      const routed = commands.map(route) as Routed[];
      const jobIds = new Set<string>();
      for (const c of routed) jobIds.add(c.jobId);
      if (stageTimes) for (const id of jobIds) stageTimes.mark(id, 'submit');
      this.waiting.push({
        commands,
        routed,
        jobIds,
        options: options as AcceptOptions<JobName> & { watch?: boolean },
        resolve: resolve as (result: Result<Admitted[]>) => void,
        reject,
      });
      this.waitingCommands += commands.length;
      if (this.waitingCommands >= this.settings.maxCommands) this.flush();
      else this.schedule();
    });
  }

  /**
   * A group waits `maxWaitMs` for company while another is being written; when none is, only for the
   * requests submitted in the same turn of the event loop — nothing to wait behind, and at a moderate
   * load the wait was pure latency on every request (groups grow by themselves while one is written).
   */
  private schedule(): void {
    if (this.timer) return;
    this.timer =
      this.inFlight === 0
        ? { kind: 'immediate', handle: setImmediate(() => this.flush()) }
        : { kind: 'timeout', handle: setTimeout(() => this.flush(), this.settings.maxWaitMs) };
  }

  private flush(): void {
    if (this.timer?.kind === 'timeout') clearTimeout(this.timer.handle);
    else if (this.timer?.kind === 'immediate') clearImmediate(this.timer.handle);
    this.timer = undefined;
    while (this.waiting.length > 0 && this.inFlight < this.settings.maxInFlight) {
      // A group holds each job id once: a request that repeats a job id of an earlier one in the
      // group waits for the next group, where the earlier one's row is there to be compared with.
      const group: Waiting[] = [];
      const later: Waiting[] = [];
      const ids = new Set<string>();
      let size = 0;
      let laterCommands = 0;
      for (const w of this.waiting) {
        if (overlapsAny(w.jobIds, ids) || (size > 0 && size + w.commands.length > this.settings.maxCommands)) {
          later.push(w);
          laterCommands += w.commands.length;
        } else {
          group.push(w);
          size += w.commands.length;
          for (const id of w.jobIds) ids.add(id);
        }
      }
      this.waiting = later;
      this.waitingCommands = laterCommands;
      this.inFlight += 1;
      void this.write(group);
    }
    if (this.waiting.length > 0 && this.inFlight < this.settings.maxInFlight) this.schedule();
  }

  private async write(group: Waiting[]): Promise<void> {
    const marks = stageTimes ? (stage: string) => markGroup(group, stage) : undefined;
    try {
      marks?.('group');
      const carriers = carriersOf(group);
      const results = await acceptGroup(
        this.app.db,
        group.map((w) => {
          const carrier = carriers.get(w);
          return carrier
            ? { commands: w.commands, routed: w.routed, options: w.options, carrierJobId: carrier.jobId }
            : w;
        }),
      );
      marks?.('inserted');
      // the watches start before the jobs reach Redis, so that a waiter cannot miss a job's end (a use its group's
      // carrier takes is watched through the carrier, once it has its place there: below)
      const answers = results.map((result, index): Result<Admitted[]> => {
        const w = group[index]!;
        if (!result.ok || !w.options.watch) return result;
        const carried = carriers.has(w);
        return {
          ok: true,
          value: result.value.map((a) =>
            a.state === 'settled' || (carried && a.state === 'new')
              ? a
              : { ...a, watch: watchOutcome(this.app, a.name, a.jobId) },
          ),
        };
      });
      // a use carried under a carrier's id (the group's, or its request's own: POST /v1/consumptions/batch) may find
      // its own job id held by a producer's job of another payload: refused before it is carried (the carrier would
      // race that job for the key)
      const carried = (index: number) => carriers.has(group[index]!) || group[index]!.options.carry !== undefined;
      await this.checkGroup(
        group,
        answers,
        answers.flatMap((a, index) => (a.ok && carried(index) ? a.value : [])),
        false,
      );
      // a request whose commands travel in one carrier job enqueues that job instead; the group's
      // carrier takes the uses recorded now with its id beside them (a use accepted before keeps its job)
      const jobs = answers.flatMap((a, index): QueuedJob[] => {
        if (!a.ok) return [];
        const w = group[index]!;
        const carry = w.options.carry;
        if (carry) return a.value.some((admission) => admission.state !== 'settled') ? [route(carry)] : [];
        const carrier = carriers.get(w);
        if (!carrier) return a.value;
        return a.value.filter((admission) => {
          if (admission.state !== 'new') return true;
          const place = carrier.items.push(admission.data as JobData<'consume'>) - 1;
          carrier.options ??= admission.options;
          if (w.options.watch) {
            carrier.waited.push(place);
            const watch = watchOutcome(this.app, 'consume-batch', carrier.jobId);
            admission.watch = new CarriedWatch(admission.jobId, watch, place);
          }
          return false;
        });
      });
      for (const carrier of new Set(carriers.values())) if (carrier.items.length > 0) jobs.push(carrierJob(carrier));
      if (await enqueue(this.app, jobs)) {
        const own = new Set<QueuedJob>(jobs);
        const added = answers.flatMap((a) => (a.ok ? a.value.filter((c) => own.has(c)) : []));
        await this.checkGroup(group, answers, added, true);
      }
      marks?.('enqueued');
      for (const [index, w] of group.entries()) w.resolve(answers[index]!);
    } catch (error) {
      for (const w of group) w.reject(error);
    } finally {
      this.inFlight -= 1;
      if (this.waiting.length > 0) this.flush();
    }
  }

  /**
   * The requests recorded now, as Redis holds their jobs' ids (`checkAdded`; after the add when `added`): one whose
   * job id Redis holds with another payload is refused with idempotency_conflict, all of it (its other rows taken
   * back as well); one that met an earlier request's job is `pending`, as if its row had been.
   */
  private async checkGroup(
    group: Waiting[],
    answers: Array<Result<Admitted[]>>,
    admissions: Admitted[],
    added: boolean,
  ) {
    const heldHashes = new Map<string, AcceptOptions<JobName>['heldHash']>();
    answers.forEach((a, index) => {
      if (a.ok) for (const c of a.value) heldHashes.set(c.jobId, group[index]!.options.heldHash);
    });
    const { clashed, met } = await checkAdded(this.app, admissions, {
      added,
      heldHash: async (c, data) => await heldHashes.get(c.jobId)?.(data),
    });
    // a request that met an earlier request's job (a producer's) waits for it as a repeat, as a pending one does
    if (met.size > 0)
      answers.forEach((answer, index) => {
        if (answer.ok && answer.value.some((c) => met.has(c.jobId)))
          answers[index] = {
            ok: true,
            value: answer.value.map((c) => (met.has(c.jobId) ? { ...c, state: 'pending' as const } : c)),
          };
      });
    if (clashed.size === 0) return;
    const takeBack: string[] = [];
    answers.forEach((answer, index) => {
      if (!answer.ok) return;
      const clash = answer.value.find((c) => clashed.has(c.jobId));
      if (!clash) return;
      for (const c of answer.value) {
        c.watch?.cancel();
        if (c.state === 'new' && !clashed.has(c.jobId)) takeBack.push(c.jobId);
      }
      const describe = group[index]!.options.describeConflict;
      answers[index] = fail(
        'idempotency_conflict',
        describe?.(clash) ?? `job ${clash.jobId} is queued with another payload (this request was not added)`,
      );
    });
    await deleteAccepted(this.app.db, takeBack);
  }
}

/** Whether a request's job ids meet those of a group being made. */
function overlapsAny(jobIds: ReadonlySet<string>, group: ReadonlySet<string>): boolean {
  for (const id of jobIds) if (group.has(id)) return true;
  return false;
}

/** A `consume-batch` job being filled with a group's single uses. */
interface GroupCarrier {
  batchKey: string;
  jobId: string;
  items: Array<JobData<'consume'>>;
  /** The places among `items` of the uses whose callers wait (`?wait=true`): the carrier answers them whole. */
  waited: number[];
  /** Its first use's job options (when traced: that request's context; a job continues one trace). */
  options: QueuedJob['options'];
}

/**
 * Which requests of a group travel in a carrier (issue 14, the lead's design): the requests that
 * report one use (`consume`) and bring no carrier of their own — the single uses of POST
 * /v1/consumptions, waited for or not — go to the workers in one `consume-batch` job
 * (≤ MAX_BATCH_USES each) when the group holds two or more of them, instead of a `consume` job each:
 * a carried use costs the worker about a third and Redis almost nothing of a job of its own
 * (BENCHMARKS.md). Each use is still recorded on its own, with the carrier's job id beside it: the
 * worker settles each use's row as it applies it, and when Redis loses the carrier the relay
 * enqueues each use again as its own `consume` job.
 *
 * A use whose caller waits (`?wait=true`) is named in the carrier's `waited`: the carrier's end brings
 * its whole result (or its failure, with what a typed failure carries), and its waiter reads it there
 * (CarriedWatch) — one job and one end event for all the waiters of a group (BENCHMARKS.md, 2026-12-04:
 * the `?wait=true` phase's p50 16–52 % and p90 29–58 % lower, Redis's CPU per waited use 23–42 % lower).
 *
 * Not carried: a use alone in its group stays a `consume` job under API.md's job id (one job either
 * way: a carrier would only rename it and add the fan-out). A carrier's batch key is a new id per group
 * (`group-<uuid v7>`, never an API batch key, which is a key id and a colon, or a plain uuid), so its
 * job id is unique to the group, and stays its own through BullMQ's retries of it.
 */
function carriersOf(group: readonly Waiting[]): Map<Waiting, GroupCarrier> {
  const single = group.filter((w) => !w.options.carry && w.commands.length === 1 && w.commands[0]!.name === 'consume');
  const carriers = new Map<Waiting, GroupCarrier>();
  if (single.length < 2) return carriers;
  for (let start = 0; start < single.length; start += MAX_BATCH_USES) {
    const batchKey = `group-${newId()}`;
    const carrier: GroupCarrier = {
      batchKey,
      jobId: carrierCommand(batchKey, [], []).jobId,
      items: [],
      waited: [],
      options: undefined,
    };
    for (const w of single.slice(start, start + MAX_BATCH_USES)) carriers.set(w, carrier);
  }
  return carriers;
}

const carrierCommand = (batchKey: string, items: Array<JobData<'consume'>>, waited: number[]) =>
  route({ name: 'consume-batch', data: { batch_key: batchKey, items, ...(waited.length > 0 ? { waited } : {}) } });

/** The carrier as it goes to Redis: its uses, each with its own accepted_at, and which of them are waited for. */
const carrierJob = (carrier: GroupCarrier): QueuedJob => ({
  ...carrierCommand(carrier.batchKey, carrier.items, carrier.waited),
  ...(carrier.options ? { options: carrier.options } : {}),
});

/** Debug (STAGE_TIMES_DIR): a stage of every job of a group. */
function markGroup(group: readonly Waiting[], stage: string): void {
  for (const w of group) for (const id of w.jobIds) stageTimes?.mark(id, stage);
}

const admitters = new WeakMap<AppContext, Admitter>();

/** Groups the process's admitter writes at once: the runtime gives the hot-path pool a connection for each. */
export const ADMITTER_GROUPS_IN_FLIGHT = 2;

/** The process's admitter for this service (made on first use). */
export function admitterOf(app: AppContext): Admitter {
  let admitter = admitters.get(app);
  if (!admitter) {
    admitter = new Admitter(app, {
      maxCommands: app.config.ACCEPT_BATCH_SIZE,
      maxWaitMs: app.config.ACCEPT_BATCH_WAIT_MS,
      maxInFlight: ADMITTER_GROUPS_IN_FLIGHT,
    });
    admitters.set(app, admitter);
  }
  return admitter;
}

/**
 * Accepts commands on their own (no transaction of the caller's) and enqueues them: the whole path
 * of a request that only asks for jobs. Refused with `unavailable` while Redis cannot be reached, so
 * that a 202 is never answered for work that would wait for the relay. Concurrent calls are grouped
 * (the Admitter): one statement records them all and one addBulk per queue enqueues them, every few
 * milliseconds; each call is still answered on its own, all or none. With `watch`, each admission's
 * outcome is watched from before its job is enqueued (a `?wait=true` cannot miss it).
 */
export async function submit<N extends JobName>(
  app: AppContext,
  commands: ReadonlyArray<Command<N>>,
  options: AcceptOptions<N> & { watch?: boolean } = {},
): Promise<Result<Array<Admission<N> & { watch?: Watch<N> }>>> {
  if (!queueReachable(app)) return unreachable();
  // untraced (the default), no span to open: no attributes worked out and no two promises more per request
  if (!tracingEnabled()) return await admitterOf(app).submit(commands, options);
  return await inSpan(
    'accept',
    { kind: SpanKind.PRODUCER, attributes: { 'credits.jobs': [...new Set(commands.map((c) => c.name))].join(',') } },
    () => {
      // traced: each job carries this span's context, though its group enqueues it later
      const metadata = jobTraceMetadata();
      if (!metadata) return admitterOf(app).submit(commands, options);
      const traced = <C extends Command>(c: C): C => ({ ...c, options: { ...c.options, telemetry: { metadata } } });
      return admitterOf(app).submit(commands.map(traced), {
        ...options,
        ...(options.carry ? { carry: traced(options.carry) } : {}),
      });
    },
  );
}
