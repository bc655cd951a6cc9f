/**
 * `npm run bench`: consumption throughput against the raw BullMQ ceiling, measured side by side in
 * one run on one machine (absolute figures swing ~1.6× between runs here; ratios do not).
 *
 *   (a) raw    — a no-op BullMQ worker on the same queue settings (bench/noop-worker.ts), at the
 *                consumption worker's concurrency and at 200 (PERFORMANCE.md's best); the better is the ceiling
 *   (b) spread — the service's consumption workers, uses spread over many clients
 *   (c) hot    — the same, every use on one client's one balance
 *   (e) batch  — the same uses as (b), carried by `consume-batch` jobs of 1,000 (CreditsProducer.consumeMany):
 *                uses per second, read against the no-op ceiling of single jobs (`batch_ratio`)
 *   (f) holds  — as many holds spread over the clients, then their captures: the time of a pair in
 *                consumptions of the same round (`hold_capture_in_consumptions`, issue 15: ≤ 2)
 *   (d) steady — a fixed offered load (default 1,000/s): enqueue→commit latency p50/p99, and the
 *                worker's RSS at the start and the end (memory must stay flat); first the no-op worker
 *                at the same load for up to 20 s, the queue's own latency to read the figure against
 *
 * (a), (b) and (c) alternate for several rounds; each phase enqueues its jobs first with the same
 * producer other systems use (CreditsProducer), then starts its worker process(es) and measures
 * from the first job started to the last one finished (BullMQ's own timestamps). Afterwards every
 * ledger invariant is checked and the applied count compared with the jobs sent. Each phase also
 * reports the CPU one job costs the worker process(es), Postgres and Redis (Linux /proc): on two
 * cores their sum is what bounds throughput.
 *
 *   npm run bench -- [--jobs 20000] [--rounds 3] [--clients 2000] [--processes 1]
 *                    [--rate 1000] [--seconds 60] [--keep]
 *   (--rounds 0 measures only the steady phases: latency and memory)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import type { Job, Queue } from 'bullmq';
import { loadConfig } from '../src/config.js';
import { holdId } from '../src/ids.js';
import { createLogger } from '../src/logger.js';
import { CreditsProducer } from '../src/producer/index.js';
import { createRuntime } from '../src/runtime.js';
import { verifyInvariants } from '../src/services/verify.js';
import { openScratch } from './scratch.js';
import { seedClients } from './seed-clients.js';

const { values: args } = parseArgs({
  options: {
    jobs: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '3' },
    clients: { type: 'string', default: '2000' },
    processes: { type: 'string', default: '1' },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '60' },
    keep: { type: 'boolean', default: false },
  },
});
const JOBS = Number(args.jobs);
const ROUNDS = Number(args.rounds);
const CLIENTS = Number(args.clients);
const PROCESSES = Number(args.processes);
const RATE = Number(args.rate);
const SECONDS = Number(args.seconds);

const log = (message: string) => process.stderr.write(`${message}\n`);
const config = loadConfig({ ...process.env, LOG_LEVEL: 'silent' });
const scratch = await openScratch('bench', config);
const { database, databaseUrl, prefix } = scratch;
const runtime = createRuntime({
  config: { ...config, BULL_PREFIX: prefix },
  databaseUrl,
  redisUrl: scratch.redisUrl,
  log: createLogger('silent'),
  poolMax: 8,
});
const app = runtime.ctx;
const queue: Queue = app.queues.consumption;

// ---- data: many clients with one large balance each, and one hot client -------------------------
log(`setup: ${CLIENTS} clients + 1 hot client on ${database}, queue prefix ${prefix}`);
const now = new Date();
const clientIds = (
  await seedClients(app.db, { code: 'bench', count: CLIENTS + 1, ref: (n) => `bench-client-${n}`, now })
).ids;
const hotClient = clientIds[CLIENTS]!;
const spreadClients = clientIds.slice(0, CLIENTS);
const producer = new CreditsProducer({ connection: app.redis, prefix });

// ---- helpers ------------------------------------------------------------------------------------
const childEnv = {
  ...process.env,
  DATABASE_URL: databaseUrl,
  REDIS_URL: scratch.redisUrl,
  BULL_PREFIX: prefix,
  ROLES: 'worker',
  // info: the service says "credits is up" at that level, which is how the bench knows it is ready
  LOG_LEVEL: 'info',
  PORT: '0',
};

async function startWorkers(kind: 'raw' | 'service', extraEnv: Record<string, string> = {}): Promise<ChildProcess[]> {
  const script = kind === 'raw' ? 'bench/noop-worker.ts' : 'src/main.ts';
  const children: ChildProcess[] = [];
  for (let i = 0; i < PROCESSES; i += 1) {
    // BENCH_CPU_PROF=<dir>: a V8 CPU profile of each worker process, written when it stops
    const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
    const child = spawn(process.execPath, [...profile, '--import', 'tsx', script], {
      env: { ...childEnv, ...extraEnv },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
  }
  // ready when each says so (the no-op worker) or logs that it is up (the service)
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve, reject) => {
          let seen = '';
          child.stdout!.on('data', (chunk: Buffer) => {
            seen += chunk.toString();
            if (/ready|credits is up/.test(seen)) resolve();
          });
          child.once('exit', (code) => reject(new Error(`${script} exited with ${code} before it was ready`)));
        }),
    ),
  );
  return children;
}

async function stopWorkers(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(async (child) => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    }),
  );
}

async function waitCompleted(expected: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = await queue.getJobCounts('completed', 'failed');
    if ((counts.failed ?? 0) > 0) throw new Error(`${counts.failed} jobs failed`);
    if ((counts.completed ?? 0) >= expected) return;
    if (Date.now() > deadline)
      throw new Error(`only ${counts.completed} of ${expected} jobs completed in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function completedJobs(): Promise<Job[]> {
  const jobs: Job[] = [];
  for (let start = 0; ; start += 2_000) {
    const page = await queue.getJobs(['completed'], start, start + 1_999, true);
    jobs.push(...page);
    if (page.length < 2_000) return jobs;
  }
}

let sequence = 0;
/** Uses the service's workers were given (the no-op worker applies nothing). */
let expectedApplied = 0;
const useOf = (client: string) => ({
  client,
  credit_type: 'bench-sms',
  quantity: 1,
  idempotency_key: `u${++sequence}`,
});
const KEEP = { removeOnComplete: false, removeOnFail: false } as const;

async function enqueue(count: number, pick: (i: number) => string): Promise<void> {
  for (let i = 0; i < count; i += 1_000) {
    await producer.consumeEach(
      Array.from({ length: Math.min(1_000, count - i) }, (_, j) => useOf(pick(i + j))),
      KEEP,
    );
  }
}

/**
 * PERFORMANCE.md measured the no-op worker at its best with concurrency 200; the ceiling is the better of that and
 * ours.
 */
const RAW_REFERENCE_CONCURRENCY = 200;

interface PhaseResult {
  kind: 'raw' | 'raw200' | 'spread' | 'hot' | 'batch' | 'warmup';
  jobs: number;
  seconds: number;
  per_second: number;
  cpu_us_per_job: { worker: number; postgres: number; redis: number };
}

/** `count` uses spread over the clients, as consume-batch jobs of 1,000 uses; answers how many jobs. */
async function enqueueBatches(count: number): Promise<number> {
  let jobs = 0;
  for (let i = 0; i < count; i += 10_000) {
    const uses = Array.from({ length: Math.min(10_000, count - i) }, () =>
      useOf(spreadClients[Math.floor(Math.random() * spreadClients.length)]!),
    );
    jobs += (await producer.consumeMany(uses, KEEP)).length;
  }
  return jobs;
}

/**
 * (f) holds — `count` holds spread over the clients, then the capture of each (DOMAIN.md "Holds"):
 * issue 15 asks that a hold and its capture cost no more than two consumptions. Each half is timed
 * like a phase (first job started → last job finished, BullMQ's timestamps) with the same worker
 * process(es) running; the captures are enqueued once every hold is applied (a capture of a hold
 * still queued is refused), with the queue paused meanwhile, so that the worker meets them all waiting as
 * it meets every other phase's jobs. Answers seconds and CPU per pair.
 */
async function holdPhase(count = JOBS): Promise<{ pairs: number; seconds: number; cpu_us_per_pair: number }> {
  await queue.obliterate({ force: true });
  const holds = Array.from({ length: count }, () => {
    const clientId = spreadClients[Math.floor(Math.random() * spreadClients.length)]!;
    return { client: clientId, credit_type: 'bench-sms', quantity: 2, idempotency_key: `h${++sequence}` };
  });
  for (const h of holds) await producer.hold({ ...h, expires_in_seconds: 3_600 }, KEEP);
  const children = await startWorkers('service');
  // CPU over the two halves only, as a phase counts it: not this process's reading of the holds' jobs, nor
  // its enqueueing of the captures (Redis work of the bench's own)
  let ticks = 0;
  const spent = (before: Cpu, after: Cpu) =>
    ticksBetween(before.worker, after.worker) +
    ticksBetween(before.postgres, after.postgres) +
    ticksBetween(before.redis, after.redis);
  let holdSeconds = 0;
  let captureSeconds = 0;
  try {
    const holdsFrom = cpuNow(children);
    await waitCompleted(count, 600_000);
    ticks += spent(holdsFrom, cpuNow(children));
    holdSeconds = spanSeconds(await completedJobs());
    await queue.obliterate({ force: true });
    // enqueued while the queue is paused, like every other phase's jobs before its worker starts: enqueued
    // one by one into a running worker, the captures were timed at the pace of this loop, not of the worker
    await queue.pause();
    for (const h of holds) await producer.capture({ hold_id: holdId(h.client, h.idempotency_key), quantity: 1 }, KEEP);
    const capturesFrom = cpuNow(children);
    await queue.resume();
    await waitCompleted(count, 600_000);
    ticks += spent(capturesFrom, cpuNow(children));
    captureSeconds = spanSeconds(await completedJobs());
  } finally {
    await stopWorkers(children);
  }
  expectedApplied += count;
  const result = {
    pairs: count,
    seconds: Number((holdSeconds + captureSeconds).toFixed(3)),
    cpu_us_per_pair: Math.round((ticks * 1_000_000) / TICKS_PER_SECOND / count),
  };
  log(
    `  holds   ${Math.round(count / holdSeconds)} holds/s, ${Math.round(count / captureSeconds)} captures/s ` +
      `(${count} pairs in ${result.seconds} s; CPU ${result.cpu_us_per_pair} µs per pair, all processes)`,
  );
  return result;
}

/** First job started → last job finished, by BullMQ's own timestamps. */
function spanSeconds(jobs: Job[]): number {
  const first = jobs.reduce((m, j) => Math.min(m, j.processedOn ?? Infinity), Infinity);
  const last = jobs.reduce((m, j) => Math.max(m, j.finishedOn ?? 0), 0);
  return (last - first) / 1_000;
}

async function phase(kind: PhaseResult['kind'], count = JOBS): Promise<PhaseResult> {
  await queue.obliterate({ force: true });
  // a batch phase counts uses, carried by fewer jobs
  let jobsToComplete = count;
  if (kind === 'batch') jobsToComplete = await enqueueBatches(count);
  else
    await enqueue(count, () =>
      kind === 'hot' ? hotClient : spreadClients[Math.floor(Math.random() * spreadClients.length)]!,
    );
  const raw = kind === 'raw' || kind === 'raw200';
  const children = await startWorkers(
    raw ? 'raw' : 'service',
    kind === 'raw200' ? { NOOP_CONCURRENCY: String(RAW_REFERENCE_CONCURRENCY) } : {},
  );
  const cpuBefore = cpuNow(children);
  let cpuAfter: Cpu;
  try {
    await waitCompleted(jobsToComplete, 600_000);
    cpuAfter = cpuNow(children);
  } finally {
    await stopWorkers(children);
  }
  if (!raw) expectedApplied += count;
  const jobs = await completedJobs();
  const first = jobs.reduce((m, j) => Math.min(m, j.processedOn ?? Infinity), Infinity);
  const last = jobs.reduce((m, j) => Math.max(m, j.finishedOn ?? 0), 0);
  const seconds = (last - first) / 1_000;
  const units = kind === 'batch' ? count : jobs.length;
  const unitName = kind === 'batch' ? 'uses' : 'jobs';
  const perJob = (a: Map<number, number>, b: Map<number, number>) =>
    Math.round((ticksBetween(a, b) * 1_000_000) / TICKS_PER_SECOND / units);
  const cpu_us_per_job = {
    worker: perJob(cpuBefore.worker, cpuAfter.worker),
    postgres: perJob(cpuBefore.postgres, cpuAfter.postgres),
    redis: perJob(cpuBefore.redis, cpuAfter.redis),
  };
  const result = {
    kind,
    jobs: units,
    seconds: Number(seconds.toFixed(3)),
    per_second: Math.round(units / seconds),
    cpu_us_per_job,
  };
  log(
    `  ${kind.padEnd(7)} ${String(result.per_second).padStart(7)} ${unitName}/s  (${result.jobs} ` +
      `in ${result.seconds} s)   CPU µs/job: worker ${cpu_us_per_job.worker}, postgres ` +
      `${cpu_us_per_job.postgres}, redis ${cpu_us_per_job.redis}`,
  );
  return result;
}

/**
 * CPU time (clock ticks, Linux /proc) of the worker processes, every postgres process and every
 * redis-server: what one job costs each of them, measured over the phase. On two cores the sum is
 * what bounds throughput, so this says what holds it.
 */
interface Cpu {
  worker: Map<number, number>;
  postgres: Map<number, number>;
  redis: Map<number, number>;
}
const TICKS_PER_SECOND = 100;
function ticksOf(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}
function pidsNamed(name: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === name;
      } catch {
        return false;
      }
    })
    .map(Number);
}
function cpuNow(children: ChildProcess[]): Cpu {
  const byPid = (pids: number[]) => new Map(pids.map((pid) => [pid, ticksOf(pid)]));
  return {
    worker: byPid(children.map((c) => c.pid ?? 0)),
    postgres: byPid(pidsNamed('postgres')),
    redis: byPid(pidsNamed('redis-server')),
  };
}
/**
 * Ticks spent between two samples, process by process: a process that started in between counts
 * from zero, one that exited is left out (summing totals instead would subtract a Postgres backend
 * that ended during the phase — an autovacuum worker, a closed connection — and go negative).
 */
function ticksBetween(before: Map<number, number>, after: Map<number, number>): number {
  let ticks = 0;
  for (const [pid, now] of after) ticks += Math.max(0, now - (before.get(pid) ?? 0));
  return ticks;
}

function rssMb(pid: number | undefined): number {
  if (!pid) return 0;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 1024);
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

interface SteadyResult {
  offered_per_second: number;
  seconds: number;
  jobs: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  rss_start_mb: number;
  rss_end_mb: number;
}

/**
 * A fixed offered load for `seconds`: `service` is the consumption worker (latency and memory),
 * `raw` the no-op worker at the same load — what the queue alone costs in latency on this machine,
 * so that the service's figure can be read against it.
 */
async function steady(kind: 'raw' | 'service', seconds: number): Promise<SteadyResult> {
  await queue.obliterate({ force: true });
  const children = await startWorkers(kind);
  let sent = 0;
  let rssStart = 0;
  let rssEnd = 0;
  try {
    const tickMs = 10;
    const perTick = RATE / (1_000 / tickMs);
    const started = Date.now();
    let owed = 0;
    while (Date.now() - started < seconds * 1_000) {
      const tickStart = Date.now();
      owed += perTick;
      const n = Math.floor(owed);
      owed -= n;
      if (n > 0) {
        await producer.consumeEach(
          Array.from({ length: n }, () => useOf(spreadClients[Math.floor(Math.random() * spreadClients.length)]!)),
          KEEP,
        );
        sent += n;
      }
      if (rssStart === 0 && Date.now() - started > 5_000) rssStart = rssMb(children[0]?.pid);
      await new Promise((r) => setTimeout(r, Math.max(0, tickMs - (Date.now() - tickStart))));
    }
    await waitCompleted(sent, 120_000);
    rssEnd = rssMb(children[0]?.pid);
  } finally {
    await stopWorkers(children);
  }
  if (kind === 'service') expectedApplied += sent;
  const jobs = await completedJobs();
  const latencies = jobs.map((j) => (j.finishedOn ?? 0) - j.timestamp).sort((a, b) => a - b);
  const result: SteadyResult = {
    offered_per_second: RATE,
    seconds,
    jobs: jobs.length,
    p50_ms: percentile(latencies, 50),
    p99_ms: percentile(latencies, 99),
    max_ms: latencies[latencies.length - 1] ?? 0,
    rss_start_mb: rssStart,
    rss_end_mb: rssEnd,
  };
  log(
    `  steady${kind === 'raw' ? ' (no-op)' : ''} ${RATE}/s for ${seconds} s: p50 ${result.p50_ms} ms, p99 ` +
      `${result.p99_ms} ms, max ${result.max_ms} ms; worker RSS ${result.rss_start_mb} → ${result.rss_end_mb} MB`,
  );
  return result;
}

// ---- run ------------------------------------------------------------------------------------------
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
// statistics as a running service would have them (autovacuum analyzes), then a warm-up that is not counted
await app.db.raw('ANALYZE');
log('warm-up (not counted)');
await phase('warmup', Math.min(JOBS, 5_000));
const rounds: PhaseResult[][] = [];
const holdRounds: Array<Awaited<ReturnType<typeof holdPhase>>> = [];
log(
  `measuring: ${ROUNDS} rounds of raw (concurrency ${config.CONSUMPTION_CONCURRENCY} and ` +
    `${RAW_REFERENCE_CONCURRENCY}) / spread / hot, ${JOBS} jobs each, ${PROCESSES} worker process(es)`,
);
for (let r = 0; r < ROUNDS; r += 1) {
  log(`round ${r + 1}`);
  rounds.push([
    await phase('raw'),
    await phase('raw200'),
    await phase('spread'),
    await phase('hot'),
    await phase('batch'),
  ]);
  holdRounds.push(await holdPhase());
}
const steadyRaw = await steady('raw', Math.min(SECONDS, 20));
const steadyFigures = await steady('service', SECONDS);

const per = (round: PhaseResult[], kind: PhaseResult['kind']) => round.find((p) => p.kind === kind)!.per_second;
const ceilingOf = (round: PhaseResult[]) => Math.max(per(round, 'raw'), per(round, 'raw200'));
const ratios = rounds.map((round) => ({
  spread: per(round, 'spread') / ceilingOf(round),
  hot: per(round, 'hot') / ceilingOf(round),
  batch: per(round, 'batch') / ceilingOf(round),
}));
const summary = {
  raw_per_second: median(rounds.map(ceilingOf)),
  spread_per_second: median(rounds.map((r) => per(r, 'spread'))),
  hot_per_second: median(rounds.map((r) => per(r, 'hot'))),
  spread_ratio: Number(median(ratios.map((x) => x.spread)).toFixed(3)),
  hot_ratio: Number(median(ratios.map((x) => x.hot)).toFixed(3)),
  batch_uses_per_second: median(rounds.map((r) => per(r, 'batch'))),
  // uses per second through consume-batch ÷ the no-op ceiling of single jobs (issue 14: ≥ 1.5)
  batch_ratio: Number(median(ratios.map((x) => x.batch)).toFixed(3)),
  // issue 15: the time a hold and its capture take, in consumptions of the same round (target ≤ 2)
  hold_capture_in_consumptions: Number(
    median(holdRounds.map((h, i) => (h.seconds / h.pairs) * per(rounds[i]!, 'spread'))).toFixed(3),
  ),
  hold_pairs_per_second: median(holdRounds.map((h) => Math.round(h.pairs / h.seconds))),
};

// ---- correctness afterwards ----------------------------------------------------------------------
await queue.obliterate({ force: true });
await app.db.raw('ANALYZE');
const report = await verifyInvariants(app.db);
const [{ n }] = (await app.db('consumptions').where({ status: 'applied' }).count({ n: '*' })) as [{ n: bigint }];
const applied = Number(n);
const line = {
  bench: 'consumption',
  at: new Date().toISOString(),
  host: { cpus: os.cpus().length, node: process.version },
  settings: {
    jobs: JOBS,
    rounds: ROUNDS,
    clients: CLIENTS,
    processes: PROCESSES,
    concurrency: config.CONSUMPTION_CONCURRENCY,
    batch_size: config.CONSUMPTION_BATCH_SIZE,
    batch_wait_ms: config.CONSUMPTION_BATCH_WAIT_MS,
    batches_in_flight: config.CONSUMPTION_BATCHES_IN_FLIGHT,
  },
  rounds: rounds.map((r) => Object.fromEntries(r.map((p) => [p.kind, p.per_second]))),
  // the middle round's; none with --rounds 0 (a latency-and-memory run only)
  cpu_us_per_job: Object.fromEntries(
    (['raw', 'raw200', 'spread', 'hot', 'batch'] as const).map((kind) => [
      kind,
      rounds[Math.floor(rounds.length / 2)]?.find((p) => p.kind === kind)?.cpu_us_per_job ?? null,
    ]),
  ),
  ratios: ratios.map((x) => ({
    spread: Number(x.spread.toFixed(3)),
    hot: Number(x.hot.toFixed(3)),
    batch: Number(x.batch.toFixed(3)),
  })),
  holds: holdRounds,
  ...summary,
  steady: steadyFigures,
  steady_raw: steadyRaw,
  invariants_ok: report.ok,
  violations: report.violationCount,
  applied,
  sent: expectedApplied,
};
log('');
if (ROUNDS > 0) {
  log(
    `raw ceiling      ${summary.raw_per_second} jobs/s   (no-op worker, the better of ` +
      `concurrency ${config.CONSUMPTION_CONCURRENCY} and ${RAW_REFERENCE_CONCURRENCY}, per round)`,
  );
  log(`spread           ${summary.spread_per_second} jobs/s  = ${summary.spread_ratio} × raw   (target ≥ 0.50)`);
  log(
    `hold + capture   ${summary.hold_pairs_per_second} pairs/s = the time of ${summary.hold_capture_in_consumptions} ` +
      'consumptions   (target ≤ 2)',
  );
  log(`hot client       ${summary.hot_per_second} jobs/s  = ${summary.hot_ratio} × raw   (target ≥ 0.50)`);
  log(
    `batch            ${summary.batch_uses_per_second} uses/s  = ${summary.batch_ratio} × raw   ` +
      '(consume-batch of 1,000; target ≥ 1.5)',
  );
} else {
  log('throughput       not measured (--rounds 0)');
}
log(
  `p99 enqueue→commit at ${RATE}/s: ${steadyFigures.p99_ms} ms   (target ` +
    `≤ 50; the no-op worker's p99 at the same load: ${steadyRaw.p99_ms} ms)`,
);
log(`worker RSS ${steadyFigures.rss_start_mb} → ${steadyFigures.rss_end_mb} MB over ${SECONDS} s`);
log(
  `invariants: ${report.ok ? 'ok' : `${report.violationCount} VIOLATIONS`}; ` +
    `applied ${applied} of ${expectedApplied} sent`,
);
console.log(JSON.stringify(line));
mkdirSync('bench/results', { recursive: true });
appendFileSync('bench/results/bench.jsonl', `${JSON.stringify(line)}\n`);

await producer.close();
await runtime.close();
await scratch.finish({ keep: args.keep });
process.exit(report.ok && applied === expectedApplied ? 0 : 1);
