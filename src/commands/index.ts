/**
 * The one module that owns accepted work (`accepted_jobs`, `job_failures`): every asynchronous
 * command of the registry (src/jobs) travels through it.
 *
 *   accept   records commands in the caller's transaction, many at once, refusing a job id reused
 *            with another payload (`idempotency_conflict`);
 *   enqueue  puts them on their queues after the commit (`submit` does both for a caller without a
 *            transaction of its own);
 *   settle   marks them applied, in the transaction of the job that applies them (settlementOf:
 *            folded into the job's own write statement, on the hot path);
 *   failCommand  stores a permanent failure as a typed value and fails the job without retries;
 *   forgetFailedJob  forgets one (a hold's refused capture), so that its job id can run again;
 *   awaitOutcome waits for a command's result (`?wait=true`, the nightly phases, the pages);
 *   requeueLost  the relay's sweep: enqueues again what Redis lost.
 *
 * HTTP, the producer's callers, the relay, the scheduler and the pages call these; nobody else
 * reads or writes those tables.
 */
export {
  type AcceptOptions,
  type Admission,
  accept,
  acceptGroup,
  type Command,
  checkAdded,
  enqueue,
  isPending,
  pendingHolds,
  pendingSubjects,
  type QueuedJob,
  queueReachable,
  type Routed,
  route,
  type SettledLookup,
  unreachable,
} from './accept.js';
export { Admitter, submit } from './admitter.js';
export { CommandFailure } from './command-failure.js';
export { awaitOutcome, type Outcome, openOutcomeListeners, type Watch, watchOutcome } from './outcome.js';
export { requeueLost } from './recover.js';
export { failCommand, forgetFailedJob, forgetOldFailures, type Settlement, settle, settlementOf } from './settle.js';
