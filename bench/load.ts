/**
 * `npm run load`: the front door measured side by side in one run on one machine (issue 14) — absolute
 * figures swing between runs on a shared two-core host, ratios taken in the same run much less.
 *
 *   1. bare     — a reference route the tool starts in a process of its own (bench/bare-route.ts):
 *                 express 5 + `express.json()` + one `queue.add` per request, 202. Run twice, before
 *                 and after (2), with the same connections and duration;
 *   2. accept   — the service's `POST /v1/consumptions` (202), run as in production: an `api` and a
 *                 `worker` process. `accept_ratio` = its answers/s ÷ the MEAN of the two bare runs: they
 *                 bracket it in time, so their mean is the ceiling under the machine's conditions while
 *                 it ran (a neighbour's load that rises or falls during the run cancels out), where the
 *                 better of two noisy runs would be biased upwards by the noise itself. Both bare runs
 *                 and the ratio to the better one are in the JSON line too;
 *   3. wait     — `POST /v1/consumptions?wait=true` at a FIXED offered load (default 500 requests/s,
 *                 open loop, one connection per request per second, see `fixedRate` in http-phase.ts):
 *                 `wait_p99_ms` is its p99 over every request sent; the rate really offered and the
 *                 rate answered are reported beside it;
 *   4. batch    — `POST /v1/consumptions/batch` with `--batch-size` uses per request, the same
 *                 connections and duration: `batch_uses_per_second` counts the phase's uses APPLIED in
 *                 Postgres (found by their keys), over the time from the phase's start until nothing it
 *                 accepted is pending any more — the worker's backlog is part of the time.
 *
 * Each phase starts once the service is done with the one before (nothing accepted pending, every use
 * sent applied), so that one phase's backlog never runs during the next. A warm-up of both routes comes
 * first and is not counted. Each phase also reports the CPU each process spent per answer and how busy
 * the two cores were with other work meanwhile. Then the service stops and the tool checks exactly-once:
 * every use answered 202/200 applied once (counted by consumption id), nothing applied that was not
 * sent, no more applied without an answer than were sent without one, nothing left pending, the units
 * debited equal to the uses applied, and every ledger invariant (src/services/verify.ts). The exit code
 * is 0 only when all of that held.
 *
 * One JSON line on stdout (and appended to bench/results/load.jsonl); the readable lines on stderr.
 *
 *   npm run load -- [--seconds 30] [--connections 50] [--clients 1000] [--batch-size 100]
 *                   [--wait-rate 500] [--keep]
 *
 * For studying one phase (the line then holds that phase's figures only, and no ratio it lacks):
 *   --phases wait          the phases to run, of bare,accept,wait,batch (all by default); the warm-up
 *                          and the exactly-once check run whatever is chosen
 *   --wait-slots 50        autocannon instances the fixed rate is spread over (see `fixedRate`)
 *   --wait-client simple   a plain open-loop node:http client instead of autocannon (`openLoop`)
 *   --wait-warmup 3        the wait phase's route at its rate for that long first, uncounted
 *   --wait-path P          the wait phase against another path (`/v1/consumptions`: what waiting adds),
 *                          or `bare`: against the bare route (what the load tool and the host add)
 *   --stages               every process writes each waited request's stage times (src/stage-times.ts)
 *                          and the tool prints their percentiles after the wait phase
 *   --one-process          the service as `npm start` runs it: one process with every role (api, worker,
 *                          scheduler) instead of an api process and a worker process (its CPU counts as `api`)
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { createDb } from '../src/db/knex.js';
import { createApiKey } from '../src/http/auth.js';
import { createRedis } from '../src/queue/redis.js';
import { removeQueueKeys } from '../src/queue/remove-prefix.js';
import { verifyInvariants } from '../src/services/verify.js';
import { stageTimes, startStageTimes } from '../src/stage-times.js';
import { freePort, startProcess, stopProcess } from './child-process.js';
import { closedLoop, fixedRate, openLoop, type PhaseFigures, type PhaseRequests } from './http-phase.js';
import { machineTicks, pidsNamed, TICKS_PER_SECOND, ticksBetween, ticksOf } from './proc-cpu.js';
import { openScratch } from './scratch.js';
import { seedClients } from './seed-clients.js';
import { describeStages, stageBreakdown } from './stage-breakdown.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '30' },
    connections: { type: 'string', default: '50' },
    clients: { type: 'string', default: '1000' },
    'batch-size': { type: 'string', default: '100' },
    'wait-rate': { type: 'string', default: '500' },
    'wait-slots': { type: 'string', default: '50' },
    'wait-warmup': { type: 'string', default: '0' },
    'wait-path': { type: 'string', default: '/v1/consumptions?wait=true' },
    'wait-client': { type: 'string', default: 'autocannon' },
    phases: { type: 'string', default: 'bare,accept,wait,batch' },
    stages: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    'one-process': { type: 'boolean', default: false },
  },
});
const ONE_PROCESS = args['one-process'];
const SECONDS = Number(args.seconds);
const CONNECTIONS = Number(args.connections);
const CLIENTS = Number(args.clients);
const BATCH_SIZE = Number(args['batch-size']);
const WAIT_RATE = Number(args['wait-rate']);
const WAIT_SLOTS = Number(args['wait-slots']);
const WAIT_WARMUP = Number(args['wait-warmup']);
const PHASE_NAMES = ['bare', 'accept', 'wait', 'batch'] as const;
const phases = new Set(args.phases.split(',').map((p) => p.trim()));
for (const p of phases)
  if (!(PHASE_NAMES as readonly string[]).includes(p)) throw new Error(`--phases: ${p} is none of ${PHASE_NAMES}`);
const runs = (p: (typeof PHASE_NAMES)[number]) => phases.has(p);
if (args['wait-client'] !== 'autocannon' && args['wait-client'] !== 'simple')
  throw new Error('--wait-client must be autocannon or simple');
for (const [name, value, max] of [
  ['--seconds', SECONDS, 3_600],
  ['--connections', CONNECTIONS, 10_000],
  ['--clients', CLIENTS, 1_000_000],
  ['--batch-size', BATCH_SIZE, 1_000],
  ['--wait-rate', WAIT_RATE, 100_000],
  ['--wait-slots', WAIT_SLOTS, 1_000],
] as const) {
  if (!Number.isInteger(value) || value < 1 || value > max) throw new Error(`${name} must be an integer 1–${max}`);
}
/** Not counted: lets V8 compile both routes' hot paths before either is measured. */
const WARMUP_SECONDS = Math.min(3, SECONDS);
/** Far above the service's WAIT_TIMEOUT_MS (5 s): a `?wait=true` that runs out answers 202 before this. */
const TIMEOUT_SECONDS = 60;
const log = (m: string) => process.stderr.write(`${m}\n`);
const loadAtStart = os.loadavg();

const config = loadConfig({ ...process.env, LOG_LEVEL: 'silent' });
const scratch = await openScratch('load', config);
const { database, databaseUrl, stamp } = scratch;
const db = createDb({ url: databaseUrl, poolMax: 4 });
/** --stages: where each process writes its stage times, the tool's own included. */
const stagesDir = args.stages ? `bench/results/stages-${stamp}` : undefined;
if (stagesDir) startStageTimes(stagesDir, 'load');

// ---- data: many clients with one large balance each ---------------------------------------------
log(`setup: ${CLIENTS} clients on ${database}`);
const now = new Date();
const refs = (await seedClients(db, { code: 'load', count: CLIENTS, ref: (n) => `load-${n}`, now })).refs;
if (process.env.LOAD_PGLOG)
  await db.raw(`ALTER DATABASE ${pg.escapeIdentifier(database)} SET log_min_duration_statement = 0`);
const { key } = await createApiKey(db, { name: 'load test', scopes: ['write'], now });

// ---- processes: the bare route, and the service as in production ---------------------------------
const barePrefix = `{load-bare-${stamp}}`;
const barePort = await freePort();
const bare = await startProcess(
  'bench/bare-route.ts',
  {
    ...process.env,
    REDIS_URL: scratch.redisUrl,
    BARE_PREFIX: barePrefix,
    BARE_QUEUE: 'bare-consumption',
    PORT: String(barePort),
    HOST: '127.0.0.1',
  },
  /bare route is up/,
  'bare',
);
const port = await freePort();
const serviceEnv = {
  ...process.env,
  DATABASE_URL: databaseUrl,
  REDIS_URL: scratch.redisUrl,
  BULL_PREFIX: scratch.prefix,
  // info: the service says "credits is up" at that level, and logs each request as in production
  LOG_LEVEL: 'info',
  PORT: String(port),
  HOST: '127.0.0.1',
  // the per-key limit is not what is measured; at its ceiling it is counted all the same
  RATE_LIMIT_PER_MINUTE: '10000000',
  ...(stagesDir ? { STAGE_TIMES_DIR: stagesDir } : {}),
};
const api = await startProcess(
  'src/main.ts',
  { ...serviceEnv, ROLES: ONE_PROCESS ? 'api,worker,scheduler' : 'api' },
  /credits is up/,
  'api',
);
const worker = ONE_PROCESS
  ? undefined
  : // its /metrics listener on a port of its own: a process whose PORT is taken refuses to start
    await startProcess('src/main.ts', { ...serviceEnv, ROLES: 'worker', PORT: '0' }, /credits is up/, 'worker');
const bareUrl = `http://127.0.0.1:${barePort}`;
const serviceUrl = `http://127.0.0.1:${port}`;

// ---- what was sent and what was answered: the exactly-once check's inputs -------------------------
let bareSequence = 0;
/** Every use sent to the service has the key `load-<stamp>-<n>`, n = 1…serviceSequence. */
let serviceSequence = 0;
const keyPrefix = `load-${stamp}-`;
const nextUse = () => {
  serviceSequence += 1;
  return {
    client: refs[serviceSequence % refs.length]!,
    credit_type: 'load-sms',
    quantity: 1,
    idempotency_key: `${keyPrefix}${serviceSequence}`,
  };
};
/**
 * n of a consumption's key `load-<stamp>-<n>` in SQL, NULL for a key the tool did not make (CASE: the
 * cast must not run on such a key).
 */
const SEQUENCE_OF_KEY =
  `(CASE WHEN starts_with(idempotency_key, ?) AND substr(idempotency_key, ?) ~ '^[1-9][0-9]{0,15}$'` +
  ` THEN substr(idempotency_key, ?)::bigint END)`;
const sequenceBindings = [keyPrefix, keyPrefix.length + 1, keyPrefix.length + 1];
/** The consumption id of every use the service answered 202/200. */
const answered = new Set<string>();
let answeredTwice = 0;
const answer = (id: string) => {
  if (answered.has(id)) answeredTwice += 1;
  else answered.add(id);
};
/**
 * Uses sent without a 2xx answer: cut off when a phase's clock stopped (at most one request per
 * connection), timed out, or refused. Such a use may be applied (nobody heard the answer) or not, so
 * the uses applied without an answer are compared with this bound rather than with zero.
 */
let unansweredBound = 0;
const tallyUnanswered = (figures: PhaseFigures, usesPerRequest: number) => {
  const twoXx = Object.entries(figures.statuses).reduce((n, [s, c]) => (s.startsWith('2') ? n + c : n), 0);
  unansweredBound += (figures.sent - twoXx) * usesPerRequest;
};

const json = { 'content-type': 'application/json' };
const auth = { ...json, authorization: `Bearer ${key}` };
const bareRequests: PhaseRequests = {
  path: '/v1/consumptions',
  headers: auth,
  body: () => {
    bareSequence += 1;
    return JSON.stringify({
      client: refs[bareSequence % refs.length],
      credit_type: 'load-sms',
      quantity: 1,
      idempotency_key: `bare-${stamp}-${bareSequence}`,
    });
  },
};
const singleRequests = (path: string): PhaseRequests => ({
  path,
  headers: auth,
  body: () => JSON.stringify(nextUse()),
  onAnswer: (status, body, request) => {
    if (status === 202 || status === 200) answer((JSON.parse(body) as { id: string }).id);
    if (stageTimes) {
      const key = (JSON.parse(request.body) as { idempotency_key: string }).idempotency_key;
      stageTimes.mark(key, 'client_sent', performance.timeOrigin + request.sentAt);
      stageTimes.mark(key, 'client_answered', performance.timeOrigin + request.answeredAt);
      if (request.connectedAt !== undefined)
        stageTimes.mark(key, 'client_connect', performance.timeOrigin + request.connectedAt);
    }
  },
  timeConnects: stageTimes !== undefined,
});
const batchIds: string[] = [];
const batchRequests: PhaseRequests = {
  path: '/v1/consumptions/batch',
  headers: auth,
  body: () => JSON.stringify({ items: Array.from({ length: BATCH_SIZE }, nextUse) }),
  onAnswer: (status, body) => {
    if (status !== 202) return;
    for (const item of (JSON.parse(body) as { data: { id: string }[] }).data) {
      answer(item.id);
      batchIds.push(item.id);
    }
  },
};

const countPending = async () => {
  const [{ n }] = (await db('accepted_jobs').count({ n: '*' })) as [{ n: bigint | string }];
  return Number(n);
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Until nothing the service accepted is pending (every 202 is recorded first, and deleted when applied). */
async function drained(timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pending = await countPending();
    if (pending === 0) return;
    if (Date.now() > deadline) throw new Error(`${pending} accepted requests still pending after ${timeoutMs} ms`);
    await sleep(50);
  }
}
/**
 * Until the service is done with everything sent so far, before the next phase (and before it is
 * stopped: a stopping worker leaves what is pending): the requests a phase cut off when its clock
 * stopped are still being handled by the api after it. Done when every use sent is applied — or, since a
 * request cut off before the api read it is never accepted, when nothing is pending and the count has
 * not moved for 2 s.
 */
async function settled(): Promise<void> {
  await drained();
  let last = -1;
  let movedAt = Date.now();
  for (;;) {
    const [{ n }] = (await db('consumptions').count({ n: '*' })) as [{ n: bigint | string }];
    if (Number(n) >= serviceSequence) return;
    if (Number(n) !== last) {
      last = Number(n);
      movedAt = Date.now();
    } else if (Date.now() - movedAt > 2_000 && (await countPending()) === 0) return;
    await sleep(100);
  }
}

/**
 * CPU over a phase (Linux /proc): what each process spent per answer (per use applied for the batch),
 * and how busy the two cores were, in all and with work that is not this run's — other engineers'
 * tests on a shared host. Postgres counts the backends connected to this run's database; Redis is
 * shared and counted whole as the run's.
 */
interface CpuSample {
  machine: { busy: number; total: number };
  groups: Record<string, Map<number, number>>;
}
async function sampleCpu(): Promise<CpuSample> {
  const backends = (await db.raw('SELECT pid FROM pg_stat_activity WHERE datname = ?', [database])) as {
    rows: { pid: number }[];
  };
  const pids: Record<string, number[]> = {
    api: [api.pid ?? 0],
    worker: worker ? [worker.pid ?? 0] : [],
    bare: [bare.pid ?? 0],
    load_tool: [process.pid],
    postgres: backends.rows.map((r) => r.pid),
    redis: pidsNamed('redis-server'),
  };
  return {
    machine: machineTicks(),
    groups: Object.fromEntries(Object.entries(pids).map(([name, list]) => [name, ticksOf(list)])),
  };
}
interface PhaseCpu {
  /** Of both cores, in %. */
  machine_busy_pct: number;
  /** Of both cores, in %: busy with anything but the processes measured here. */
  others_pct: number;
  /** µs of CPU per answer (per use applied for the batch), process by process. */
  us_per_answer: Record<string, number>;
}
function cpuBetween(before: CpuSample, after: CpuSample, answers: number): PhaseCpu {
  const total = Math.max(1, after.machine.total - before.machine.total);
  const busy = after.machine.busy - before.machine.busy;
  let ours = 0;
  const perAnswer: Record<string, number> = {};
  for (const [name, ticks] of Object.entries(after.groups)) {
    const spent = ticksBetween(before.groups[name] ?? new Map(), ticks);
    ours += spent;
    perAnswer[name] = Math.round((spent * 1_000_000) / TICKS_PER_SECOND / Math.max(1, answers));
  }
  return {
    machine_busy_pct: Math.round((busy / total) * 100),
    others_pct: Math.max(0, Math.round(((busy - ours) / total) * 100)),
    us_per_answer: perAnswer,
  };
}
/** A phase with the CPU it cost. */
async function withCpu<F extends PhaseFigures>(run: () => Promise<F>): Promise<F & { cpu: PhaseCpu }> {
  const before = await sampleCpu();
  const figures = await run();
  return { ...figures, cpu: cpuBetween(before, await sampleCpu(), figures.answered) };
}
const describeCpu = (c: PhaseCpu) =>
  `CPU µs/answer: ${Object.entries(c.us_per_answer)
    .filter(([, us]) => us > 0)
    .map(([name, us]) => `${name} ${us}`)
    .join(', ')}; cores busy ${c.machine_busy_pct} %, of which other work ${c.others_pct} %`;

const fmt = (n: number) => n.toLocaleString('en-US');
const describe = (f: PhaseFigures) =>
  `${fmt(f.requests_per_second).padStart(6)} req/s  ` +
  `p50 ${f.latency_ms.p50} ms, p99 ${f.latency_ms.p99} ms, max ${f.latency_ms.max} ms; ` +
  `${f.non_2xx} non-2xx, ${f.errors} errors, ${f.timeouts} timeouts`;
/** The second line of a phase, under its first. */
const indent = (text: string) => `\n                       ${text}`;

// ---- run ------------------------------------------------------------------------------------------
const closed = { connections: CONNECTIONS, seconds: SECONDS, timeoutSeconds: TIMEOUT_SECONDS };
log(`warm-up (not counted): ${WARMUP_SECONDS} s each of the bare route and the service`);
await closedLoop(bareUrl, bareRequests, { ...closed, seconds: WARMUP_SECONDS });
tallyUnanswered(
  await closedLoop(serviceUrl, singleRequests('/v1/consumptions'), { ...closed, seconds: WARMUP_SECONDS }),
  1,
);
await settled();
// Statistics as a running service has them. Setup's ANALYZE (seed-clients.ts) saw consumptions,
// accepted_jobs and the ledger empty, and a plan cached on those figures (a named statement's generic
// plan, a foreign key's check) stays a sequential scan however far the table grows, until autovacuum
// happens to analyze it again mid-run: a lottery between runs (BENCHMARKS.md, 2026-12-03 issue 14).
// After the warm-up those tables hold rows, and every phase meets the plans a service in use gets.
await db.raw('ANALYZE');

log(`measuring: ${CONNECTIONS} connections, ${SECONDS} s per phase (${[...phases].join(', ')})`);
const barePhase = async (n: number) => {
  if (!runs('bare')) return undefined;
  const figures = await withCpu(() => closedLoop(bareUrl, bareRequests, closed));
  log(`  bare route (${n})       ${describe(figures)}${indent(describeCpu(figures.cpu))}`);
  return figures;
};
const bare1 = await barePhase(1);
let accept: Awaited<ReturnType<typeof withCpu<PhaseFigures>>> | undefined;
if (runs('accept')) {
  accept = await withCpu(() => closedLoop(serviceUrl, singleRequests('/v1/consumptions'), closed));
  tallyUnanswered(accept, 1);
  log(`  POST /consumptions   ${describe(accept)}${indent(describeCpu(accept.cpu))}`);
  await settled();
}
const bare2 = await barePhase(2);

const waitPhase = async () => {
  const options = { rate: WAIT_RATE, seconds: SECONDS, timeoutSeconds: TIMEOUT_SECONDS };
  // --wait-path: the same fixed rate against another path (`/v1/consumptions`: what waiting adds), or
  // against the bare route (`bare`: what the load tool and the host add to any answer)
  const toBare = args['wait-path'] === 'bare';
  const url = toBare ? bareUrl : serviceUrl;
  const requests = toBare ? bareRequests : singleRequests(args['wait-path']);
  const tally = (figures: PhaseFigures) => {
    if (!toBare) tallyUnanswered(figures, 1);
  };
  if (WAIT_WARMUP > 0) {
    log(`  ?wait=true warm-up (not counted): ${WAIT_WARMUP} s at ${WAIT_RATE}/s`);
    tally(await fixedRate(url, requests, { ...options, seconds: WAIT_WARMUP, slots: WAIT_SLOTS }));
    await settled();
  }
  const stagesFrom = Date.now();
  const wait = await withCpu(() =>
    args['wait-client'] === 'simple'
      ? openLoop(url, requests, options)
      : fixedRate(url, requests, { ...options, slots: WAIT_SLOTS }),
  );
  tally(wait);
  log(
    `  ?wait=true at ${WAIT_RATE}/s   offered ${fmt(wait.offered_per_second)}/s, ` +
      `answered ${fmt(wait.achieved_per_second)}/s; ` +
      `p50 ${wait.latency_ms.p50} ms, p99 ${wait.latency_ms.p99} ms, max ${wait.latency_ms.max} ms; ` +
      `${wait.statuses['200'] ?? 0} × 200, ${wait.statuses['202'] ?? 0} × 202 (wait ran out), ` +
      `${wait.non_2xx} non-2xx, ${wait.errors} errors, ${wait.timeouts} timeouts${indent(describeCpu(wait.cpu))}`,
  );
  await settled();
  const client = args['wait-client'] === 'simple' ? { client: 'simple' } : {};
  if (!stagesDir) return { ...wait, ...client };
  // the processes write their rows a few times a second: a moment for the last ones
  await sleep(600);
  const stages = stageBreakdown(stagesDir, { from: stagesFrom, to: Date.now() });
  log(describeStages(stages));
  return { ...wait, ...client, stages };
};
const wait = runs('wait') ? await waitPhase() : undefined;

const batchPhase = async () => {
  const batchFirst = serviceSequence + 1;
  const batchCpuBefore = await sampleCpu();
  const batchStarted = Date.now();
  const batch = await closedLoop(serviceUrl, batchRequests, closed);
  tallyUnanswered(batch, BATCH_SIZE);
  const batchLast = serviceSequence;
  const batchAnsweredAt = Date.now();
  await drained();
  const batchDrainedAt = Date.now();
  const batchCpuAfter = await sampleCpu();
  const batchAppliedSeconds = (batchDrainedAt - batchStarted) / 1_000;
  // every use of the phase applied by now, answered or cut off when its clock stopped: all of it is
  // work done in the time
  const [{ n: batchApplied }] = (await db('consumptions')
    .where({ status: 'applied' })
    .whereRaw(`${SEQUENCE_OF_KEY} BETWEEN ? AND ?`, [...sequenceBindings, batchFirst, batchLast])
    .count({ n: '*' })) as [{ n: bigint | string }];
  const batchFigures = {
    ...batch,
    uses_per_request: BATCH_SIZE,
    uses_answered: batchIds.length,
    uses_accepted_per_second: Math.round(batchIds.length / batch.seconds),
    /** Uses of the phase applied in Postgres once nothing it accepted was pending. */
    uses_applied: Number(batchApplied),
    /** From the phase's start until nothing it accepted was pending. */
    applied_seconds: Number(batchAppliedSeconds.toFixed(2)),
    /** Of which after its clock stopped: the worker's backlog. */
    drain_seconds: Number(((batchDrainedAt - batchAnsweredAt) / 1_000).toFixed(2)),
    uses_per_second: Math.round(Number(batchApplied) / batchAppliedSeconds),
    /** From the phase's start until nothing it accepted was pending, per use applied. */
    cpu: cpuBetween(batchCpuBefore, batchCpuAfter, Number(batchApplied)),
  };
  log(
    `  batch of ${BATCH_SIZE}         ${describe(batch)}; ` +
      `${fmt(batchFigures.uses_accepted_per_second)} uses/s accepted, ` +
      `${fmt(batchFigures.uses_applied)} applied in ${batchFigures.applied_seconds} s = ` +
      `${fmt(batchFigures.uses_per_second)} uses/s${indent(describeCpu(batchFigures.cpu).replace('answer', 'use'))}`,
  );
  return batchFigures;
};
const batchFigures = runs('batch') ? await batchPhase() : undefined;

// ---- exactly once, after the service has stopped ------------------------------------------------
await settled();
for (const child of [api, worker, bare]) if (child) await stopProcess(child);
const loadAtEnd = os.loadavg();
const pendingAfter = await countPending();
await db.raw('ANALYZE');
const report = await verifyInvariants(db);
const [counts] = (await db('consumptions').select(
  db.raw('count(*) AS total'),
  db.raw(`count(*) FILTER (WHERE status = 'applied') AS applied`),
  db.raw('count(*) FILTER (WHERE status = ? AND id = ANY(?::uuid[])) AS answered_applied', ['applied', [...answered]]),
  db.raw(`count(*) FILTER (WHERE ${SEQUENCE_OF_KEY} IS NULL OR ${SEQUENCE_OF_KEY} > ?) AS not_sent`, [
    ...sequenceBindings,
    ...sequenceBindings,
    serviceSequence,
  ]),
)) as [{ total: string; applied: string; answered_applied: string; not_sent: string }];
// every use is one unit: the units that left the balances must be the uses applied, once each
const [{ debited }] = (await db('balances').select(db.raw('coalesce(sum(granted - remaining), 0) AS debited'))) as [
  { debited: string },
];
const exactlyOnce = {
  uses_sent: serviceSequence,
  uses_answered: answered.size,
  answered_twice: answeredTwice,
  answered_applied: Number(counts.answered_applied),
  applied: Number(counts.applied),
  not_applied: Number(counts.total) - Number(counts.applied),
  applied_unanswered: Number(counts.applied) - Number(counts.answered_applied),
  unanswered_bound: unansweredBound,
  not_sent: Number(counts.not_sent),
  pending: pendingAfter,
  units_debited: Number(debited),
};
const exact =
  exactlyOnce.answered_twice === 0 &&
  exactlyOnce.answered_applied === exactlyOnce.uses_answered &&
  exactlyOnce.not_applied === 0 &&
  exactlyOnce.applied_unanswered >= 0 &&
  exactlyOnce.applied_unanswered <= exactlyOnce.unanswered_bound &&
  exactlyOnce.not_sent === 0 &&
  exactlyOnce.pending === 0 &&
  exactlyOnce.units_debited === exactlyOnce.applied;

// a figure of a phase that did not run (--phases) is left out of the line
const bareMean = bare1 && bare2 ? (bare1.requests_per_second + bare2.requests_per_second) / 2 : undefined;
const bareBest = bare1 && bare2 ? Math.max(bare1.requests_per_second, bare2.requests_per_second) : undefined;
const ratio = (n: number | undefined, d: number | undefined) =>
  n === undefined || d === undefined ? undefined : d > 0 ? Number((n / d).toFixed(3)) : 0;
const line = {
  bench: 'load',
  at: new Date().toISOString(),
  host: {
    cpus: os.cpus().length,
    node: process.version,
    // the 1-minute load average before and after: a shared machine shows here
    loadavg_start: Number(loadAtStart[0]!.toFixed(2)),
    loadavg_end: Number(loadAtEnd[0]!.toFixed(2)),
  },
  settings: {
    seconds: SECONDS,
    connections: CONNECTIONS,
    clients: CLIENTS,
    batch_size: BATCH_SIZE,
    wait_rate: WAIT_RATE,
    wait_connections: wait?.connections,
    wait_slots: wait?.slots,
    warmup_seconds: WARMUP_SECONDS,
    reference: 'mean of bare_1 and bare_2',
    ...(ONE_PROCESS ? { one_process: true } : {}),
    ...(phases.size < PHASE_NAMES.length ? { phases: [...phases] } : {}),
  },
  accept_ratio: ratio(accept?.requests_per_second, bareMean),
  accept_ratio_best_bare: ratio(accept?.requests_per_second, bareBest),
  wait_p99_ms: wait?.latency_ms.p99,
  wait_achieved_per_second: wait?.achieved_per_second,
  batch_uses_per_second: batchFigures?.uses_per_second,
  bare_per_second: bareMean === undefined ? undefined : Math.round(bareMean),
  accept_per_second: accept?.requests_per_second,
  phases: { bare_1: bare1, accept, bare_2: bare2, wait, batch: batchFigures },
  exactly_once: exactlyOnce,
  invariants_ok: report.ok,
  violations: report.violationCount,
  ok: exact && report.ok,
};
log('');
if (bare1 && bare2 && bareMean !== undefined)
  log(
    `bare route       ${fmt(bare1.requests_per_second)} and ${fmt(bare2.requests_per_second)} req/s ` +
      `(mean ${fmt(Math.round(bareMean))})`,
  );
if (accept && bareMean !== undefined)
  log(
    `accept_ratio     ${line.accept_ratio}   (${fmt(accept.requests_per_second)} ÷ ${fmt(Math.round(bareMean))}; ` +
      `against the better bare run ${line.accept_ratio_best_bare}; target ≥ 0.50)`,
  );
if (wait)
  log(
    `wait_p99_ms      ${line.wait_p99_ms}   (at ${fmt(wait.offered_per_second)}/s offered of ${WAIT_RATE}/s asked, ` +
      `${fmt(wait.achieved_per_second)}/s answered; target ≤ 50)`,
  );
if (batchFigures)
  log(`batch            ${fmt(batchFigures.uses_per_second)} uses/s applied   (batches of ${BATCH_SIZE})`);
log(
  `exactly once     ${exact ? 'held' : 'BROKEN'}: ` +
    `${fmt(exactlyOnce.answered_applied)} of the ${fmt(exactlyOnce.uses_answered)} uses answered 2xx applied once ` +
    `each (${exactlyOnce.answered_twice} ids answered twice); ${exactlyOnce.applied_unanswered} applied ` +
    `unanswered (≤ ${exactlyOnce.unanswered_bound} sent without an answer); ${exactlyOnce.not_sent} applied that ` +
    `were not sent; ${exactlyOnce.not_applied} not applied; ${exactlyOnce.pending} pending; ` +
    `${fmt(exactlyOnce.units_debited)} units debited for ${fmt(exactlyOnce.applied)} uses applied`,
);
log(`invariants       ${report.ok ? 'ok' : `${report.violationCount} VIOLATIONS`}`);
log(
  `machine          load average ${line.host.loadavg_start} before, ${line.host.loadavg_end} after ` +
    `(${line.host.cpus} cores)`,
);
console.log(JSON.stringify(line));
mkdirSync('bench/results', { recursive: true });
appendFileSync('bench/results/load.jsonl', `${JSON.stringify(line)}\n`);

await db.destroy();
if (!args.keep) {
  const connection = createRedis(scratch.redisUrl, 'worker');
  await removeQueueKeys(connection, barePrefix);
  connection.disconnect();
}
await scratch.finish({ keep: args.keep });
process.exit(line.ok ? 0 : 1);
