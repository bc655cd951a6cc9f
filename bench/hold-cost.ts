/**
 * Where a hold and its capture spend their cost, against a consumption (issue 15: a pair must cost no
 * more than two consumptions). Sets up like `npm run bench` (a scratch database, many clients with a
 * large balance each), starts ONE worker process (`src/main.ts`, ROLES=worker) and runs, for each of
 * `--rounds`, three phases of `--jobs` jobs each, enqueued first with CreditsProducer: `consume` (spread
 * over the clients), `hold` (2 units) and `capture` (1 of the 2; the rest is released). A first round
 * (not reported) warms the worker up. Per phase and per job it reports:
 *
 *   - the time (first job started → last finished, BullMQ's timestamps);
 *   - the CPU of the worker, of the Postgres cluster (every child of its postmaster) and of Redis (/proc);
 *   - every SQL statement the phase ran, from pg_stat_statements: calls per batch and per job, rows,
 *     execution time, WAL records and bytes — the round trips a batch makes, and which is heavy;
 *   - the Redis commands per job (INFO commandstats).
 *
 * It needs a Postgres of its own with pg_stat_statements preloaded, and a Redis of its own (the CPU of
 * every process of both is counted): nothing else may use them during the run.
 *
 *   PG_POSTMASTER_PID=<pid> REDIS_PID=<pid> DATABASE_URL=postgres://…:5499/postgres REDIS_URL=redis://…:6399 \
 *     node --import tsx bench/hold-cost.ts [--jobs 10000] [--rounds 2] [--clients 2000]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Job, Queue } from 'bullmq';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { holdId } from '../src/ids.js';
import { createLogger } from '../src/logger.js';
import { CreditsProducer } from '../src/producer/index.js';
import { createRuntime } from '../src/runtime.js';
import { verifyInvariants } from '../src/services/verify.js';
import { processTicks, TICKS_PER_SECOND } from './proc-cpu.js';
import { openScratch } from './scratch.js';
import { seedClients } from './seed-clients.js';

const { values: args } = parseArgs({
  options: {
    jobs: { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '2' },
    clients: { type: 'string', default: '2000' },
    top: { type: 'string', default: '12' },
    'consume-last': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});
const JOBS = Number(args.jobs);
const ROUNDS = Number(args.rounds);
const CLIENTS = Number(args.clients);
const TOP = Number(args.top);
const POSTMASTER = Number(process.env.PG_POSTMASTER_PID);
const REDIS_PID = Number(process.env.REDIS_PID);
if (!POSTMASTER || !REDIS_PID) throw new Error('PG_POSTMASTER_PID and REDIS_PID name the private Postgres and Redis');
const log = (message: string) => process.stderr.write(`${message}\n`);

const config = loadConfig({ ...process.env, LOG_LEVEL: 'silent' });
const scratch = await openScratch('bench', config);
const runtime = createRuntime({
  config: { ...config, BULL_PREFIX: scratch.prefix },
  databaseUrl: scratch.databaseUrl,
  redisUrl: scratch.redisUrl,
  log: createLogger('silent'),
  poolMax: 8,
});
const app = runtime.ctx;
const queue: Queue = app.queues.consumption;
const stats = new pg.Client({ connectionString: config.DATABASE_URL });
await stats.connect();
const [{ oid: dbid }] = (await stats.query('SELECT oid FROM pg_database WHERE datname = $1', [scratch.database]))
  .rows as [{ oid: number }];

// ---- data, as `npm run bench` makes it ----------------------------------------------------------
const now = new Date();
const clients = (await seedClients(app.db, { code: 'bench', count: CLIENTS, ref: (n) => `bench-client-${n}`, now }))
  .ids;
const producer = new CreditsProducer({ connection: app.redis, prefix: scratch.prefix });
const KEEP = { removeOnComplete: false, removeOnFail: false } as const;
const pick = () => clients[Math.floor(Math.random() * clients.length)]!;

// ---- the worker, and what the processes spend -----------------------------------------------------
// HOLD_COST_PROF=<dir>: a V8 CPU profile of the worker, written when it stops
const profile = process.env.HOLD_COST_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.HOLD_COST_PROF}`] : [];
const worker: ChildProcess = spawn(process.execPath, [...profile, '--import', 'tsx', 'src/main.ts'], {
  env: {
    ...process.env,
    DATABASE_URL: scratch.databaseUrl,
    REDIS_URL: scratch.redisUrl,
    BULL_PREFIX: scratch.prefix,
    ROLES: 'worker',
    LOG_LEVEL: 'info',
    PORT: '0',
  },
  stdio: ['ignore', 'pipe', 'inherit'],
});
await new Promise<void>((resolve, reject) => {
  let seen = '';
  worker.stdout!.on('data', (chunk: Buffer) => {
    seen += chunk.toString();
    if (/credits is up/.test(seen)) resolve();
  });
  worker.once('exit', (code) => reject(new Error(`the worker exited with ${code}`)));
});

/** Every process of the private Postgres cluster: its postmaster and the postmaster's children. */
function postgresPids(): number[] {
  const children = readFileSync(`/proc/${POSTMASTER}/task/${POSTMASTER}/children`, 'utf8').trim().split(/\s+/);
  return [POSTMASTER, ...children.filter(Boolean).map(Number)];
}
const ticks = () => ({
  worker: processTicks(worker.pid!),
  postgres: new Map(postgresPids().map((pid) => [pid, processTicks(pid)])),
  redis: processTicks(REDIS_PID),
});
const ticksSince = (before: Map<number, number>, after: Map<number, number>) =>
  [...after].reduce((sum, [pid, t]) => sum + Math.max(0, t - (before.get(pid) ?? 0)), 0);

/** How often waitCompleted asked Redis (one script call each): taken out of the Redis commands per job. */
let polls = 0;
async function waitCompleted(expected: number): Promise<void> {
  for (;;) {
    polls += 1;
    const counts = await queue.getJobCounts('completed', 'failed');
    if ((counts.failed ?? 0) > 0) throw new Error(`${counts.failed} jobs failed`);
    if ((counts.completed ?? 0) >= expected) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}
async function spanSeconds(): Promise<number> {
  const jobs: Job[] = [];
  for (let start = 0; ; start += 2_000) {
    const page = await queue.getJobs(['completed'], start, start + 1_999, true);
    jobs.push(...page);
    if (page.length < 2_000) break;
  }
  const first = jobs.reduce((m, j) => Math.min(m, j.processedOn ?? Infinity), Infinity);
  const last = jobs.reduce((m, j) => Math.max(m, j.finishedOn ?? 0), 0);
  return (last - first) / 1_000;
}

interface StatementCost {
  /** false: run inside another statement (a foreign-key check), not a round trip of its own */
  toplevel: boolean;
  query: string;
  calls: number;
  rows: number;
  ms: number;
  wal_records: number;
  wal_bytes: number;
}
interface PhaseCost {
  phase: string;
  jobs: number;
  seconds: number;
  per_second: number;
  batches: number;
  cpu_us_per_job: { worker: number; postgres: number; redis: number; sum: number };
  statements_per_batch: number;
  statements_per_job: number;
  sql_ms_per_job: number;
  wal_bytes_per_job: number;
  redis_calls_per_job: number;
  redis_commands: Record<string, number>;
  statements: StatementCost[];
}

let sequence = 0;
async function measure(phase: string, jobs: number, enqueue: () => Promise<void>): Promise<PhaseCost> {
  await queue.obliterate({ force: true });
  // paused while enqueued, as `npm run bench` starts its worker once every job waits
  await queue.pause();
  await enqueue();
  await stats.query('SELECT pg_stat_statements_reset()');
  await app.redis.config('RESETSTAT');
  const before = ticks();
  const startedAt = process.hrtime.bigint() / 1000n;
  polls = 0;
  await queue.resume();
  await waitCompleted(jobs);
  const after = ticks();
  // the phase's window on the monotonic clock, in µs: what a V8 profile of the worker is timed by
  if (process.env.HOLD_COST_PROF) log(`window ${phase} ${startedAt} ${process.hrtime.bigint() / 1000n}`);
  const commandstats = String(await app.redis.info('commandstats'));
  const seconds = await spanSeconds();
  const rows = (
    await stats.query<{
      query: string;
      calls: string;
      rows: string;
      ms: number;
      wal_records: string;
      wal_bytes: string;
      toplevel: boolean;
    }>(
      `SELECT query, calls, rows, total_exec_time AS ms, wal_records, wal_bytes, toplevel
         FROM pg_stat_statements WHERE dbid = $1 ORDER BY total_exec_time DESC`,
      [dbid],
    )
  ).rows.map((r) => ({
    toplevel: r.toplevel,
    query: r.query.replace(/\s+/g, ' ').slice(0, 140),
    calls: Number(r.calls),
    rows: Number(r.rows),
    ms: Number(r.ms.toFixed(1)),
    wal_records: Number(r.wal_records),
    wal_bytes: Number(r.wal_bytes),
  }));
  const redis: Record<string, number> = {};
  for (const m of commandstats.matchAll(/cmdstat_([^:]+):calls=(\d+)/g)) {
    const calls = Number(m[2]) - (m[1] === 'evalsha' ? polls : 0) - (m[1] === 'info' ? 1 : 0);
    if (calls > 0) redis[m[1]!] = calls / jobs;
  }
  const per = (t: number) => Math.round((t * 1_000_000) / TICKS_PER_SECOND / jobs);
  const cpu = {
    worker: per(after.worker - before.worker),
    postgres: per(ticksSince(before.postgres, after.postgres)),
    redis: per(after.redis - before.redis),
    sum: 0,
  };
  cpu.sum = cpu.worker + cpu.postgres + cpu.redis;
  const batches = rows.find((r) => r.query === 'BEGIN')?.calls ?? 0;
  // round trips: the statements the worker sent (the foreign-key checks run inside them are nested)
  const statements = rows.filter((r) => r.toplevel).reduce((s, r) => s + r.calls, 0);
  return {
    phase,
    jobs,
    seconds,
    per_second: Math.round(jobs / seconds),
    batches,
    cpu_us_per_job: cpu,
    statements_per_batch: Number((statements / Math.max(1, batches)).toFixed(2)),
    statements_per_job: Number((statements / jobs).toFixed(3)),
    sql_ms_per_job: Number((rows.filter((r) => r.toplevel).reduce((s, r) => s + r.ms, 0) / jobs).toFixed(4)),
    wal_bytes_per_job: Math.round(rows.filter((r) => r.toplevel).reduce((s, r) => s + r.wal_bytes, 0) / jobs),
    redis_calls_per_job: Number(
      Object.values(redis)
        .reduce((s, n) => s + n, 0)
        .toFixed(2),
    ),
    redis_commands: Object.fromEntries(Object.entries(redis).map(([k, v]) => [k, Number(v.toFixed(3))])),
    statements: rows.filter((r) => !/pg_stat_statements|^SELECT oid FROM pg_database/.test(r.query)).slice(0, TOP),
  };
}

async function round(): Promise<PhaseCost[]> {
  const consumePhase = () =>
    measure('consume', JOBS, async () => {
      for (let i = 0; i < JOBS; i += 1_000) {
        await producer.consumeEach(
          Array.from({ length: Math.min(1_000, JOBS - i) }, () => ({
            client: pick(),
            credit_type: 'bench-sms',
            quantity: 1,
            idempotency_key: `u${++sequence}`,
          })),
          KEEP,
        );
      }
    });
  // --consume-last: the consumptions after the holds and captures (does the order move a phase's figures?)
  const consume = args['consume-last'] ? undefined : await consumePhase();
  const holds = Array.from({ length: JOBS }, () => ({
    client: pick(),
    credit_type: 'bench-sms',
    quantity: 2,
    idempotency_key: `h${++sequence}`,
  }));
  const hold = await measure('hold', JOBS, async () => {
    for (const h of holds) await producer.hold({ ...h, expires_in_seconds: 3_600 }, KEEP);
  });
  const capture = await measure('capture', JOBS, async () => {
    for (const h of holds) await producer.capture({ hold_id: holdId(h.client, h.idempotency_key), quantity: 1 }, KEEP);
  });
  return [consume ?? (await consumePhase()), hold, capture];
}

try {
  log('warm-up round (not reported)');
  await round();
  for (let r = 0; r < ROUNDS; r += 1) {
    const phases = await round();
    const [consume, hold, capture] = phases as [PhaseCost, PhaseCost, PhaseCost];
    log(`round ${r + 1}`);
    for (const p of phases) {
      log(
        `  ${p.phase.padEnd(8)} ${p.per_second}/s  ${p.batches} batches ` +
          `(${(p.jobs / p.batches).toFixed(0)} jobs each)  ` +
          `CPU µs/job worker ${p.cpu_us_per_job.worker}, postgres ${p.cpu_us_per_job.postgres}, redis ` +
          `${p.cpu_us_per_job.redis} = ${p.cpu_us_per_job.sum}; ${p.statements_per_batch} statements/batch; ` +
          `SQL ${p.sql_ms_per_job} ms/job; WAL ${p.wal_bytes_per_job} B/job; redis ${p.redis_calls_per_job} calls/job`,
      );
      for (const s of p.statements)
        log(
          `      ${String(s.calls).padStart(6)} calls ${String(s.rows).padStart(7)} rows ` +
            `${String(s.ms).padStart(8)} ms ` +
            `${String(s.wal_bytes).padStart(9)} WAL B ${s.toplevel ? ' ' : '↳'} ${s.query}`,
        );
    }
    const pairTime = (1 / hold.per_second + 1 / capture.per_second) * consume.per_second;
    const pairCpu = (hold.cpu_us_per_job.sum + capture.cpu_us_per_job.sum) / consume.cpu_us_per_job.sum;
    log(`  a pair = ${pairTime.toFixed(2)} consumptions in time, ${pairCpu.toFixed(2)} in CPU`);
    console.log(
      JSON.stringify({
        bench: 'hold-cost',
        at: new Date().toISOString(),
        pair_in_consumptions: Number(pairTime.toFixed(3)),
        pair_cpu_in_consumptions: Number(pairCpu.toFixed(3)),
        phases: phases.map(({ statements: _, ...rest }) => rest),
      }),
    );
  }
  await queue.obliterate({ force: true });
  const report = await verifyInvariants(app.db);
  log(`invariants: ${report.ok ? 'ok' : `${report.violationCount} VIOLATIONS`}`);
} finally {
  worker.kill('SIGTERM');
  await once(worker, 'exit');
  await stats.end();
  await producer.close();
  await runtime.close();
  await scratch.finish({ keep: args.keep });
  if (args.keep) log(`kept ${scratch.database}`);
}
