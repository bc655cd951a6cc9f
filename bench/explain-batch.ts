/**
 * What Postgres and the worker spend on one consumption batch: sets up like `npm run bench` (a scratch
 * database, many clients with a large balance each), then applies batches of uses spread over the clients —
 * as the worker's micro-batcher hands them to `applyConsumptions` — in rounds, and prints the CPU per use of
 * the Postgres backend and of this process (applyConsumptions alone: no queue), then EXPLAIN (ANALYZE,
 * BUFFERS) of each statement of one more batch (the write's plan shows its foreign-key triggers).
 *
 * An experiment (`--sql`, undone by `--undo`) runs in each round's second half: e.g. what an index costs,
 *   --sql "DROP INDEX ledger_usage" --undo "CREATE INDEX ledger_usage ON …"
 * The host is shared: read the best of each side, measured in turns, not one run against another.
 *
 *   node --import tsx bench/explain-batch.ts [--clients 2000] [--size 400] [--batches 20] [--rounds 3]
 *        [--explain true] [--sql …]… [--undo …]…
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type pg from 'pg';
import { loadConfig } from '../src/config.js';
import { createSqlPool } from '../src/db/sql-client.js';
import { applyConsumptions, type ConsumeItem } from '../src/jobs/consume.js';
import { createLogger } from '../src/logger.js';
import { createRuntime } from '../src/runtime.js';
import { openScratch } from './scratch.js';
import { seedClients } from './seed-clients.js';

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '2000' },
    size: { type: 'string', default: '400' },
    batches: { type: 'string', default: '20' },
    keep: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '3' },
    // an experiment: SQL run before a round's second half (drop an index, a constraint) and undone after it
    sql: { type: 'string', multiple: true, default: [] },
    undo: { type: 'string', multiple: true, default: [] },
    explain: { type: 'string', default: 'true' },
  },
});
const CLIENTS = Number(args.clients);
const SIZE = Number(args.size);
const BATCHES = Number(args.batches);
const ROUNDS = Number(args.rounds);
const log = (m: string) => process.stderr.write(`${m}\n`);

const config = loadConfig({ ...process.env, LOG_LEVEL: 'silent' });
const scratch = await openScratch('profile', config);
const runtime = createRuntime({
  config: { ...config, BULL_PREFIX: scratch.prefix },
  databaseUrl: scratch.databaseUrl,
  redisUrl: scratch.redisUrl,
  log: createLogger('silent'),
  poolMax: 2,
});
const app = runtime.ctx;
const now = new Date();
const clients = (await seedClients(app.db, { code: 'p', count: CLIENTS, ref: (n) => `p-${n}`, now })).ids;

// the batches' connection: one, so that its backend's CPU is the batches' (and named statements stay prepared)
const pool = createSqlPool(scratch.databaseUrl, 1, 'explain-batch');
const backendPid = Number((await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
log(`batches on backend ${backendPid}`);
const ticksOf = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]);
};

let sequence = 0;
const batchOf = (): ConsumeItem[] =>
  Array.from({ length: SIZE }, () => ({
    jobId: `b${sequence}`,
    data: {
      client: clients[Math.floor(Math.random() * clients.length)]!,
      credit_type: 'p-sms',
      quantity: 1,
      idempotency_key: `u${++sequence}`,
      accepted_at: now.toISOString(),
    },
    enqueuedAt: now,
    settles: `consume|x|u${sequence}`,
  }));

/** The pool, with every statement of a transaction EXPLAINed first (inside a savepoint rolled back). */
const explaining = (plans: string[]): pg.Pool =>
  new Proxy(pool, {
    get(target, property, receiver) {
      if (property !== 'connect') return Reflect.get(target, property, receiver);
      return async () => {
        const client = await target.connect();
        const query = client.query.bind(client) as (config: pg.QueryConfig | string, values?: unknown[]) => unknown;
        return new Proxy(client, {
          get(c, p, r) {
            if (p !== 'query') return Reflect.get(c, p, r);
            return async (config: pg.QueryConfig | string, values?: unknown[]) => {
              const text = typeof config === 'string' ? config : config.text;
              const vals = typeof config === 'string' ? values : config.values;
              if (!/^(BEGIN|COMMIT|ROLLBACK)/.test(text)) {
                await query('SAVEPOINT explain');
                const plan = (await query({
                  text: `EXPLAIN (ANALYZE, BUFFERS) ${text}`,
                  values: vals,
                } as pg.QueryConfig)) as pg.QueryResult<{ 'QUERY PLAN': string }>;
                await query('ROLLBACK TO SAVEPOINT explain');
                // the values inlined by a generic plan's display run long: their start is enough
                const lines = plan.rows
                  .map((x) => x['QUERY PLAN'])
                  .map((l) => (l.length > 180 ? `${l.slice(0, 180)}…` : l));
                plans.push(`${text.slice(0, 60).replace(/\s+/g, ' ')}…\n${lines.join('\n')}`);
              }
              return query(config, values);
            };
          },
        });
      };
    },
  });

/** `BATCHES` batches: wall ms per batch, and CPU µs per use of the Postgres backend and of this process. */
async function measure(): Promise<{ ms: number; postgres: number; worker: number }> {
  const timed = { ms: 0, ticks: 0, cpuUs: 0 };
  for (let b = 0; b < BATCHES; b += 1) {
    const items = batchOf();
    const started = performance.now();
    const before = ticksOf(backendPid);
    const cpu = process.cpuUsage();
    const outcomes = await applyConsumptions({ ...app, sql: pool }, items);
    const spent = process.cpuUsage(cpu);
    timed.cpuUs += spent.user + spent.system;
    timed.ticks += ticksOf(backendPid) - before;
    timed.ms += performance.now() - started;
    const failed = outcomes.filter((o) => !o.ok);
    if (failed.length > 0) throw new Error(`${failed.length} uses failed`);
  }
  const uses = BATCHES * SIZE;
  return {
    ms: Number((timed.ms / BATCHES).toFixed(1)),
    postgres: Math.round((timed.ticks * 10_000) / uses),
    worker: Math.round(timed.cpuUs / uses),
  };
}

// rounds, each the baseline then (with --sql) the experiment, undone after (--undo): on a shared host the
// CPU a use costs swings between runs, so compare the best of each side, measured in turns
const results: Record<'base' | 'experiment', Array<Awaited<ReturnType<typeof measure>>>> = { base: [], experiment: [] };
const show = (r: Awaited<ReturnType<typeof measure>>) =>
  `${r.ms} ms/batch, Postgres ${r.postgres} µs/use, worker ${r.worker} µs/use`;
for (let round = 0; round < ROUNDS; round += 1) {
  const base = await measure();
  results.base.push(base);
  log(`round ${round + 1} base:       ${show(base)}`);
  if (args.sql.length === 0) continue;
  for (const statement of args.sql) await app.db.raw(statement);
  const experiment = await measure();
  results.experiment.push(experiment);
  log(`round ${round + 1} experiment: ${show(experiment)}`);
  for (const statement of args.undo) await app.db.raw(statement);
}
const best = (rs: Array<Awaited<ReturnType<typeof measure>>>) => ({
  ms: Math.min(...rs.map((r) => r.ms)),
  postgres: Math.min(...rs.map((r) => r.postgres)),
  worker: Math.min(...rs.map((r) => r.worker)),
});
log(`${BATCHES} batches of ${SIZE} per round, ${ROUNDS} rounds; best of each side:`);
log(`  base:       ${show(best(results.base))}`);
if (results.experiment.length > 0) log(`  experiment: ${show(best(results.experiment))}  (${args.sql.join('; ')})`);
if (args.explain === 'true') {
  const plans: string[] = [];
  await applyConsumptions({ ...app, sql: explaining(plans) }, batchOf());
  for (const plan of plans) log(`\n${plan}`);
}

await pool.end();
await runtime.close();
await scratch.finish({ keep: args.keep });
