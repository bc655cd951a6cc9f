import type { Executor } from '../knex.js';

/** A nightly run (migration 0028), by the minute it ran as of. */
export interface NightlyRunRow {
  as_of: Date;
  started_at: Date;
  /** Null while it runs, or when it was stopped before its last phase (a shutdown). */
  finished_at: Date | null;
  report: unknown;
}

/** A run of `asOf` began (again, for a second scheduler or an operator's rerun: the first start is kept). */
export async function recordNightlyStarted(db: Executor, asOf: Date, at: Date): Promise<void> {
  await db('nightly_runs').insert({ as_of: asOf, started_at: at }).onConflict('as_of').ignore();
}

/** A run of `asOf` finished: when, and what each phase did (the last run of the minute to finish is kept). */
export async function recordNightlyFinished(db: Executor, asOf: Date, at: Date, report: unknown): Promise<void> {
  await db('nightly_runs')
    .insert({ as_of: asOf, started_at: at, finished_at: at, report: JSON.stringify(report) })
    .onConflict('as_of')
    .merge(['finished_at', 'report']);
}

/** The latest minute a nightly run finished as of; undefined when none ever did. */
export async function latestFinishedNightly(db: Executor): Promise<Date | undefined> {
  const row = (await db('nightly_runs').whereNotNull('finished_at').max('as_of as as_of').first()) as
    | { as_of: Date | null }
    | undefined;
  return row?.as_of ?? undefined;
}

/** The runs, newest first (`before`: older than that minute), at most `limit`. */
export async function recentNightlyRuns(
  db: Executor,
  page: { before?: Date | undefined; limit: number },
): Promise<NightlyRunRow[]> {
  const query = db('nightly_runs').orderBy('as_of', 'desc').limit(page.limit);
  if (page.before) query.where('as_of', '<', page.before);
  return (await query.select('as_of', 'started_at', 'finished_at', 'report')) as NightlyRunRow[];
}
