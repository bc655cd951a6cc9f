import type { Job } from 'bullmq';
import type { AppContext } from '../app-context.js';
import { type AcceptedJobRow, acceptedDue, deleteAccepted, markLookedAt } from '../db/repositories/accepted-jobs.js';
import { jobFailuresByIds } from '../db/repositories/job-failures.js';
import { isJobName } from '../jobs/definitions.js';
import { relayRequeued } from '../metrics.js';
import { stepDone } from '../queue/job-step.js';
import { isQueueName } from '../queue/names.js';
import { enqueue } from './accept.js';
import { isFailureOf } from './outcome.js';

const BATCH = 500;

/**
 * Accepted commands whose job Redis no longer holds — Redis lost its data, or the enqueue after the
 * commit failed — are enqueued again under the same job id (a use whose carrier Redis lost, or whose
 * carrier finished without it, on its own), and so are those whose job finished before they were
 * accepted (Postgres restored from a backup: `finishedBefore`). A job that failed for good (its failure is stored) is
 * forgotten here; one that ran out of retries on a transient error is retried. Each command is looked
 * at once per `graceMs`, a batch at a time until none is due (after Redis lost its data there may be
 * many). Runs in the relay of every worker process. Answers how many jobs it enqueued again or retried.
 */
export async function requeueLost(app: AppContext, graceMs = app.config.RELAY_GRACE_MS): Promise<number> {
  let moved = 0;
  for (;;) {
    const rows = await acceptedDue(app.db, graceMs, BATCH);
    if (rows.length === 0) break;
    const states = await Promise.all(rows.map((row) => stateOf(app, row)));
    // the job of each command that Redis holds finished: failed (to retry or forget) or completed (when it finished)
    const finishedJobs = await Promise.all(
      rows.map((row, i) => (states[i] === 'failed' || states[i] === 'completed' ? jobOf(app, row) : undefined)),
    );
    const stored = await jobFailuresByIds(app.db, rows.filter((_, i) => states[i] === 'failed').map(travelsIn));
    // settled for good only by the failure its last run ended with, not by one an earlier run under the id left
    const failures = new Set(
      rows.flatMap((row, i) => {
        const failure = stored.get(travelsIn(row));
        const reason = finishedJobs[i]?.failedReason;
        return failure && reason !== undefined && isFailureOf(failure, reason) ? [travelsIn(row)] : [];
      }),
    );
    const missing: AcceptedJobRow[] = [];
    const done: string[] = [];
    const touched: string[] = [];
    let leftBehind = 0;
    let ranBefore = 0;
    const retried = new Set<string>();
    for (const [index, row] of rows.entries()) {
      const state = states[index];
      const job = finishedJobs[index];
      // A carrier settles every use it carries in the transaction that applies them: a use still accepted once
      // its carrier has finished was not in it (a carrier named like an earlier one Redis still held finished) —
      // taken as settled, it would be lost. It travels on its own, as after a lost carrier (applied already, its
      // own job only answers it again).
      // A carrier that failed for good (its failure stored: a payload the worker refuses whole, after a rollback to
      // a version that reads it otherwise) settled none of its uses — each use's own refusal settles it, in the
      // carrier's run — so its uses travel on their own too, each then applied or refused alone.
      const carrierFinishedWithout =
        row.carrier_job_id !== null && (state === 'completed' || failures.has(row.carrier_job_id));
      if (state === 'completed' && !carrierFinishedWithout && job && finishedBefore(job, row)) {
        // removed, so that the command can be enqueued again under its id (adding it while Redis holds the
        // finished job would add nothing); one a worker holds cannot be removed: looked at again next time
        if (!(await stepDone(job.remove()))) {
          touched.push(row.job_id);
          continue;
        }
        ranBefore += 1;
        missing.push(row);
        touched.push(row.job_id);
      } else if (state === 'unknown' || carrierFinishedWithout) {
        if (carrierFinishedWithout) leftBehind += 1;
        missing.push(row);
        touched.push(row.job_id);
      } else if (state === 'completed' || failures.has(travelsIn(row))) done.push(row.job_id);
      else if (state === 'failed') {
        // run again once, though it carries many of the rows (a carrier): a second retry finds it waiting and throws,
        // which ended the sweep there, the rest of its batch left for the next pass, one failed carrier a pass
        if (job && !retried.has(travelsIn(row))) {
          retried.add(travelsIn(row));
          if (await stepDone(job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true }))) moved += 1;
        }
        touched.push(row.job_id);
      } else touched.push(row.job_id);
    }
    const requeue = missing.flatMap((row) =>
      isJobName(row.name) && isQueueName(row.queue)
        ? [{ name: row.name, queue: row.queue, jobId: row.job_id, data: row.data }]
        : [],
    );
    if (leftBehind > 0) {
      app.log.warn({ count: leftBehind }, 'accepted uses outlived the carrier job named beside them; enqueued alone');
    }
    if (ranBefore > 0) {
      app.log.warn(
        { count: ranBefore },
        'accepted requests whose job had finished before they were accepted (Postgres restored from a backup?); ' +
          'enqueued them again',
      );
    }
    const alone: string[] = [];
    if (requeue.length > 0) {
      // the data is the command's as accepted (validated then); the worker validates it again
      if (await enqueue(app, requeue)) {
        // a use whose carrier was lost travels on its own from now on
        alone.push(...missing.filter((row) => row.carrier_job_id !== null).map((row) => row.job_id));
        moved += requeue.length;
        relayRequeued.inc({ kind: 'accepted' }, requeue.length);
        app.log.warn({ count: requeue.length }, 'accepted requests were missing from Redis; enqueued them again');
      }
    }
    await deleteAccepted(app.db, done);
    await markLookedAt(app.db, touched, alone);
    if (rows.length < BATCH) break;
  }
  return moved;
}

/**
 * Whether the job Redis holds finished before the command was accepted (`finishedOn`, the worker's clock, against
 * `accepted_at`, Postgres's): then that run was of an earlier request under the same job id, and did not apply this one
 * — the transaction that applies a command deletes its row. It happens when Postgres is restored from a backup taken
 * before that run while Redis keeps the job finished (an hour at most, `removeOnComplete`), and the request comes
 * again: its row is written anew, its enqueue adds nothing, and taken as settled it would never be applied. Misjudged
 * (the two clocks apart, or a run that settled the row after it was read), the command only runs again, as a repeat
 * that changes nothing.
 */
const finishedBefore = (job: Job, row: AcceptedJobRow): boolean =>
  job.finishedOn !== undefined && job.finishedOn < row.accepted_at.getTime();

/**
 * The job that takes the command to the workers: its own, or the job carrying it (a use of a
 * `consume-batch`: of POST /v1/consumptions/batch, or of a group of single uses the Admitter carried).
 * When Redis lost the carrier, the command is enqueued again on its own, and forgets the carrier.
 */
const travelsIn = (row: AcceptedJobRow): string => row.carrier_job_id ?? row.job_id;

/** The job that carries the command, as Redis holds it. */
const jobOf = async (app: AppContext, row: AcceptedJobRow): Promise<Job | undefined> =>
  isQueueName(row.queue) ? ((await app.queues[row.queue].getJob(travelsIn(row))) as Job | undefined) : undefined;

/**
 * The state in BullMQ of the job that carries the command, `unknown` when Redis does not hold it (or
 * names a queue this version does not have).
 */
async function stateOf(app: AppContext, row: AcceptedJobRow): Promise<string> {
  if (!isQueueName(row.queue)) return 'unknown';
  return app.queues[row.queue].getJobState(travelsIn(row));
}
