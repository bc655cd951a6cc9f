/**
 * Where the API process spends its CPU per accepted consumption (issue 14's `accept_ratio`): sets up as
 * `npm run load` does (a scratch database, many clients with a large balance each, a write key), starts
 * an `api` and a `worker` process as in production, and drives `POST /v1/consumptions` (50 connections,
 * a new idempotency key per request) with autocannon — the load tool's accept phase alone.
 *
 * - It measures, over `--rounds` phases of `--seconds` (each after an uncounted warm-up of a fresh api
 *   process), the CPU each process spent per answer (Linux /proc, as the load tool does), and the share
 *   of both cores other work took; then the median of the rounds.
 * - `--compare <dir>`: side by side, the api of another checkout (`base`: e.g. main, exported with
 *   `git archive` and its node_modules linked) and this one's (`this`), in turns — round 1 base then
 *   this, round 2 this then base, … — against the same database, worker and Redis. On a shared host the
 *   CPU per answer is steadier than the req/s, and one run's turns meet the same neighbours.
 * - `--parallel` (with `--compare`): both apis at once, each under its own closed loop, in the same
 *   seconds — they meet the same neighbours at every moment; the ratio of their CPU per answer is the figure.
 *   In a closed loop the cheaper one also answers more, and a higher rate lowers the CPU per answer
 *   again (larger groups): with `--rate <n>` both are offered the same n requests/s, and only the work
 *   per request differs.
 * - `--fixed-groups`: ACCEPT_BATCH_SIZE = `--connections` and a long ACCEPT_BATCH_WAIT_MS, so that in the
 *   closed loop each group the api writes holds one request of every connection, whatever the rate.
 * - `--rate <n>`: the measured phases offer n requests/s (open loop, as the load tool's `?wait=true`
 *   phase) instead of `--connections` in a closed loop: the CPU per answer depends on the rate (the
 *   groups the api writes grow with it), so variants are compared at one rate both can answer.
 * - `--prof`: the api process runs under V8's profiler; the samples of the measured phases only (the
 *   profile's clock is the monotonic clock `process.hrtime` reads) are summed per function (self time,
 *   and total time: the function or anything it called), per package and per step of a request (STEPS),
 *   top `--top` printed; the profile is kept, and `--read <dir>` prints its summary again.
 * - `--count`: instead, the api runs IN this process (the load comes from a child process), and counts
 *   its round trips per request over `--seconds`: Postgres statements (knex's `query` event) by their first words,
 *   and Redis commands sent from this process's own sockets (a MONITOR connection, matched by local
 *   port; what Lua scripts call inside Redis is not counted), the worker running apart.
 *
 *   node --import tsx bench/profile-api.ts [--seconds 10] [--rounds 2] [--prof] [--top 40] [--compare <dir>]
 *   node --import tsx bench/profile-api.ts --count [--seconds 5]
 *   node --import tsx bench/profile-api.ts --read /tmp/credits-api-prof-<stamp>/api-this
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { loadConfig, type Role } from '../src/config.js';
import { createDb } from '../src/db/knex.js';
import { createApiKey } from '../src/http/auth.js';
import { createLogger } from '../src/logger.js';
import { startRoles } from '../src/roles.js';
import { createRuntime } from '../src/runtime.js';
import { freePort, startProcess, stopProcess } from './child-process.js';
import { closedLoop, fixedRate, type PhaseFigures, type PhaseRequests } from './http-phase.js';
import { machineTicks, pidsNamed, TICKS_PER_SECOND, ticksBetween, ticksOf } from './proc-cpu.js';
import { openScratch } from './scratch.js';
import { seedClients } from './seed-clients.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
    warmup: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    clients: { type: 'string', default: '1000' },
    prof: { type: 'boolean', default: false },
    top: { type: 'string', default: '40' },
    count: { type: 'boolean', default: false },
    read: { type: 'string' },
    compare: { type: 'string' },
    rate: { type: 'string' },
    'fixed-groups': { type: 'boolean', default: false },
    parallel: { type: 'boolean', default: false },
    drive: { type: 'string' },
  },
});
const SECONDS = Number(args.seconds);
const ROUNDS = Number(args.rounds);
const WARMUP = Number(args.warmup);
const CONNECTIONS = Number(args.connections);
const CLIENTS = Number(args.clients);
const log = (m: string) => process.stderr.write(`${m}\n`);
/** Other work on the cores (% of both) up to which a round counts as quiet. */
const QUIET_PCT = 40;

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/**
 * The steps of a request a sample is counted under: the nearest frame (from the sampled function up its
 * stack) that matches one, so that a step's figure is its own work and what it called that no nearer
 * step claims. Express calls the next middleware from inside the one before: the router's own functions
 * are a step, so that what follows a middleware is not counted as that middleware's.
 */
const STEPS: Array<[string, RegExp]> = [
  ['pg: insertAccepted (accepted_jobs statement)', /^insertAccepted /],
  ['pg: settled lookup (appliedConsumptions)', /^(appliedConsumptions|settledConsumptions) /],
  ['pg: refs (clientsNamed/creditTypesNamed)', /^(clientsNamed|creditTypesNamed) /],
  ['knex/pg (other statements)', / (knex|pg|pg-protocol|pg-pool)\//],
  ['redis: addBulk (enqueue)', /^(enqueue |addBulk |addJobs )/],
  ['redis: QueueEvents (outcome listener)', /^consumeEvents |queue-events\.js/],
  ['redis: rate-limit sync', /^(sync|flush|send)\w* src\/http\/rate-limit/],
  ['ioredis/bullmq (other)', / (ioredis|bullmq|msgpackr|cluster-key-slot)\//],
  ['accept: acceptGroup', /^acceptGroup /],
  ['accept: Admitter (submit/flush/write)', /^(submit|flush|write|size) src\/commands\/admitter/],
  ['accept: route()/jobIdOf', /^(route|jobIdOf|consumeJobId) |src\/jobs\/job-id/],
  [
    'handler: prepareUse (check, id, fingerprint)',
    /^(prepareUse|checkUse|consumptionFingerprint|consumptionId|parseQuantity|canonicalJson) /,
  ],
  ['handler: refs (RefResolver)', /^(clientsFor|creditTypesFor|resolve) src\/services\/ref-resolver/],
  ['handler: acceptConsumptions', /^(acceptConsumptions|acceptBatchUses|prepareBodies|submitUses) /],
  ['handler: route handler/jobReply', /src\/http\/routes\/consumptions|src\/http\/job-reply/],
  ['OTel: inSpan/jobTraceMetadata', /src\/telemetry/],
  ['runRoute (zod parse, plumbing)', /src\/http\/run-route|zod\//],
  ['reply: sendReply/res.json (express)', /^(sendReply|json|send|status|set|header) |express\/lib\/response/],
  ['auth: authenticate/key cache', /^authenticate |src\/http\/auth/],
  ['rate limit (local)', /src\/http\/rate-limit/],
  ['refuseUnstorableText', /src\/http\/refuse-unstorable-text/],
  ['body: jsonBody/raw-body/iconv', /src\/http\/json-body|body-parser|raw-body|iconv-lite|content-type|type-is/],
  ['headers: securityHeaders', /^securityHeaders|precomputedHeaders/],
  ['metrics: recordHttpMetrics/prom-client', /src\/metrics|prom-client/],
  ['drain gate', /src\/http\/drain/],
  ['request id/log', /src\/http\/request-log|pino/],
  ['express router', /router\/|path-to-regexp|parseurl|express\/lib\/(application|express|request)|finalhandler/],
  ['node http (parse, headers, end)', /node:_http/],
  ['GC', /^\(garbage collector\)/],
];

if (args.read) {
  summarise(args.read);
  process.exit(0);
}
if (args.drive) {
  // the load of `--count`, from a process of its own: the api it counts runs alone in its process
  const answers = await closedLoop(
    args.drive,
    consumptionRequests(process.env.PROFILE_KEY!, process.env.PROFILE_STAMP!),
    {
      connections: CONNECTIONS,
      seconds: SECONDS,
      timeoutSeconds: 60,
    },
  );
  process.stdout.write(`${JSON.stringify(answers)}\n`);
  process.exit(0);
}

const config = loadConfig({ ...process.env, LOG_LEVEL: 'silent' });
const scratch = await openScratch('profile', config);
const db = createDb({ url: scratch.databaseUrl, poolMax: 4 });

// ---- data: as `npm run load` -----------------------------------------------------------------------
log(`setup: ${CLIENTS} clients on ${scratch.database}`);
const now = new Date();
await seedClients(db, { code: 'load', count: CLIENTS, ref: (n) => `load-${n}`, now });
const { key } = await createApiKey(db, { name: 'profile', scopes: ['write'], now });

const requests = consumptionRequests(key, scratch.stamp);
const serviceEnv = {
  ...process.env,
  DATABASE_URL: scratch.databaseUrl,
  REDIS_URL: scratch.redisUrl,
  BULL_PREFIX: scratch.prefix,
  LOG_LEVEL: 'info',
  HOST: '127.0.0.1',
  RATE_LIMIT_PER_MINUTE: '10000000',
  // every group the api writes holds one request of each connection: the per-group work is shared the
  // same way whatever the rate the neighbours leave (the CPU per answer otherwise grows as groups shrink)
  ...(args['fixed-groups'] ? { ACCEPT_BATCH_SIZE: String(CONNECTIONS), ACCEPT_BATCH_WAIT_MS: '100' } : {}),
};
const pending = async () => {
  const [{ n }] = (await db('accepted_jobs').count({ n: '*' })) as [{ n: bigint | string }];
  return Number(n);
};
async function drained(): Promise<void> {
  const deadline = Date.now() + 300_000;
  while ((await pending()) > 0) {
    if (Date.now() > deadline) throw new Error('accepted requests still pending after 300 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

if (args.count) await countRoundTrips();
else if (args.parallel && args.compare) await measureParallel(path.resolve(args.compare));
else await measure();
await db.destroy();
await scratch.finish({ keep: false });
process.exit(0);

/** `POST /v1/consumptions`, one unit, a new key per request, the clients `load-<n>` in turn. */
function consumptionRequests(key: string, stamp: string): PhaseRequests {
  let sequence = 0;
  return {
    path: '/v1/consumptions',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: () => {
      sequence += 1;
      return JSON.stringify({
        client: `load-${sequence % CLIENTS}`,
        credit_type: 'load-sms',
        quantity: 1,
        idempotency_key: `p-${stamp}-${sequence}`,
      });
    },
  };
}

// ---- CPU per answer, and the profile ----------------------------------------------------------------
interface Variant {
  label: string;
  /** The checkout its api runs from (its own sources and tsconfig). */
  cwd: string;
}

async function measure(): Promise<void> {
  const variants: Variant[] = args.compare
    ? [
        { label: 'base', cwd: path.resolve(args.compare) },
        { label: 'this', cwd: process.cwd() },
      ]
    : [{ label: 'this', cwd: process.cwd() }];
  const profDir = args.prof ? path.join(os.tmpdir(), `credits-api-prof-${scratch.stamp}`) : undefined;
  const workerPort = await freePort();
  const worker = await startProcess(
    'src/main.ts',
    { ...serviceEnv, PORT: String(workerPort), ROLES: 'worker' },
    /credits is up/,
    'worker',
  );
  const windows = new Map<string, Array<[number, number]>>();
  const answers = new Map<string, number>();
  const results = new Map<string, Array<Record<string, number>>>();
  for (let round = 1; round <= ROUNDS; round += 1) {
    // alternate the order, so that neither variant always meets the same moment of a neighbour's load
    const order = round % 2 === 1 ? variants : [...variants].reverse();
    for (const variant of order) {
      const port = await freePort();
      const env: NodeJS.ProcessEnv = { ...serviceEnv, PORT: String(port), ROLES: 'api' };
      // startProcess profiles a process under $LOAD_CPU_PROF/<label> (--cpu-prof is refused in NODE_OPTIONS)
      if (profDir) process.env.LOAD_CPU_PROF = profDir;
      const api = await startProcess('src/main.ts', env, /credits is up/, `api-${variant.label}`, variant.cwd);
      delete process.env.LOAD_CPU_PROF;
      const url = `http://127.0.0.1:${port}`;
      const loop = { connections: CONNECTIONS, timeoutSeconds: 60 };
      await closedLoop(url, requests, { ...loop, seconds: WARMUP });
      await drained();
      const row = await measuredRound(url, api.pid ?? 0, worker.pid ?? 0, (from, to, answered) => {
        windows.set(variant.label, [...(windows.get(variant.label) ?? []), [from, to]]);
        answers.set(variant.label, (answers.get(variant.label) ?? 0) + answered);
      });
      results.set(variant.label, [...(results.get(variant.label) ?? []), row]);
      log(JSON.stringify({ variant: variant.label, round, ...row }));
      await stopProcess(api);
      await drained();
    }
  }
  await stopProcess(worker);
  const median = (xs: number[]) => {
    const sorted = [...xs].sort((x, y) => x - y);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  };
  for (const [label, rows] of results) {
    const summary = Object.fromEntries(
      ['api_us', 'worker_us', 'postgres_us', 'redis_us', 'req_s', 'others_pct'].map((k) => [
        k,
        median(rows.map((r) => r[k]!)),
      ]),
    );
    log(`median of ${rows.length} rounds, ${label}: ${JSON.stringify(summary)}`);
    // the CPU per answer grows with the other work on the cores: the rounds where it took little
    const quiet = rows.filter((r) => r.others_pct! <= QUIET_PCT);
    if (quiet.length > 0)
      log(
        `  ${quiet.length} round(s) with other work ≤ ${QUIET_PCT} %: api_us median ` +
          `${median(quiet.map((r) => r.api_us!))} (${quiet.map((r) => r.api_us).join(', ')})`,
      );
  }
  const base = results.get('base');
  const mine = results.get('this');
  if (base && mine) {
    // each round's two turns ran back to back: their ratio cancels most of what the neighbours did
    const ratios = base.map((b, i) => mine[i]!.api_us! / b.api_us!);
    log(
      `api_us this ÷ base, per round: ${ratios.map((r) => r.toFixed(2)).join(', ')}; ` +
        `median ${median(ratios).toFixed(3)}`,
    );
  }
  if (profDir) {
    for (const variant of variants) {
      const dir = path.join(profDir, `api-${variant.label}`);
      writeFileSync(
        path.join(dir, 'windows.json'),
        JSON.stringify({ windows: windows.get(variant.label) ?? [], answers: answers.get(variant.label) ?? 0 }),
      );
      log(`\n==== ${variant.label}: profile kept in ${dir} (again: --read ${dir})`);
      summarise(dir);
    }
  }
}

/**
 * `--parallel`: both apis at once, each under its own closed loop of `--connections`, against the same
 * worker, Postgres and Redis, over the same seconds: whatever the neighbours do, both meet it. Each
 * api's CPU is per its own answers; the shared processes' per all answers.
 */
async function measureParallel(baseDir: string): Promise<void> {
  const worker = await startProcess(
    'src/main.ts',
    { ...serviceEnv, PORT: String(await freePort()), ROLES: 'worker' },
    /credits is up/,
    'worker',
  );
  const apis: Array<{ label: string; url: string; pid: number }> = [];
  for (const [label, cwd] of [
    ['base', baseDir],
    ['this', process.cwd()],
  ] as const) {
    const port = await freePort();
    const env = { ...serviceEnv, PORT: String(port), ROLES: 'api' };
    const child = await startProcess('src/main.ts', env, /credits is up/, `api-${label}`, cwd);
    apis.push({ label, url: `http://127.0.0.1:${port}`, pid: child.pid ?? 0 });
  }
  const loop = { connections: CONNECTIONS, timeoutSeconds: 60 };
  await Promise.all(apis.map((a) => closedLoop(a.url, requests, { ...loop, seconds: WARMUP })));
  await drained();
  const ratios: number[] = [];
  for (let round = 1; round <= ROUNDS; round += 1) {
    const backends = (await db.raw('SELECT pid FROM pg_stat_activity WHERE datname = ?', [scratch.database])) as {
      rows: { pid: number }[];
    };
    const groups: Record<string, number[]> = {
      ...Object.fromEntries(apis.map((a) => [a.label, [a.pid]])),
      worker: [worker.pid ?? 0],
      postgres: backends.rows.map((r) => r.pid),
      redis: pidsNamed('redis-server'),
    };
    const sample = () => ({
      machine: machineTicks(),
      ticks: Object.fromEntries(Object.entries(groups).map(([name, pids]) => [name, ticksOf(pids)])),
    });
    const before = sample();
    const figures = await Promise.all(
      apis.map((a) =>
        args.rate
          ? fixedRate(a.url, requests, { rate: Number(args.rate), seconds: SECONDS, timeoutSeconds: 60 })
          : closedLoop(a.url, requests, { ...loop, seconds: SECONDS }),
      ),
    );
    const after = sample();
    const us = (name: string, answers: number) =>
      Math.round(
        (ticksBetween(before.ticks[name] ?? new Map(), after.ticks[name] ?? new Map()) * 1_000_000) /
          TICKS_PER_SECOND /
          Math.max(1, answers),
      );
    const all = figures.reduce((n, f) => n + f.answered, 0);
    const ours = Object.keys(groups).reduce(
      (n, name) => n + ticksBetween(before.ticks[name] ?? new Map(), after.ticks[name] ?? new Map()),
      0,
    );
    const total = Math.max(1, after.machine.total - before.machine.total);
    const row: Record<string, number> = {
      round,
      ...Object.fromEntries(
        apis.flatMap((a, i) => [
          [`${a.label}_api_us`, us(a.label, figures[i]!.answered)],
          [`${a.label}_req_s`, figures[i]!.requests_per_second],
          [`${a.label}_non_2xx`, figures[i]!.non_2xx],
        ]),
      ),
      worker_us: us('worker', all),
      postgres_us: us('postgres', all),
      redis_us: us('redis', all),
      others_pct: Math.max(0, Math.round(((after.machine.busy - before.machine.busy - ours) / total) * 100)),
      loadavg: Number(os.loadavg()[0]!.toFixed(2)),
    };
    ratios.push(row.this_api_us! / row.base_api_us!);
    log(JSON.stringify(row));
    await drained();
  }
  for (const a of apis) log(`${a.label}: ${a.url}`);
  const sorted = [...ratios].sort((x, y) => x - y);
  log(
    `api_us this ÷ base, per round: ${ratios.map((r) => r.toFixed(2)).join(', ')}; ` +
      `median ${sorted[Math.floor((sorted.length - 1) / 2)]!.toFixed(3)}`,
  );
}

/** One measured phase against the api at `url`: the CPU of each process per answer, from /proc. */
async function measuredRound(
  url: string,
  apiPid: number,
  workerPid: number,
  onWindow: (from: number, to: number, answered: number) => void,
): Promise<Record<string, number>> {
  const backends = (await db.raw('SELECT pid FROM pg_stat_activity WHERE datname = ?', [scratch.database])) as {
    rows: { pid: number }[];
  };
  const groups = {
    api: [apiPid],
    worker: [workerPid],
    postgres: backends.rows.map((r) => r.pid),
    redis: pidsNamed('redis-server'),
  };
  const sample = () => ({
    machine: machineTicks(),
    ticks: Object.fromEntries(Object.entries(groups).map(([name, pids]) => [name, ticksOf(pids)])),
  });
  const before = sample();
  const from = Number(process.hrtime.bigint() / 1000n);
  const figures = args.rate
    ? await fixedRate(url, requests, { rate: Number(args.rate), seconds: SECONDS, timeoutSeconds: 60 })
    : await closedLoop(url, requests, { connections: CONNECTIONS, seconds: SECONDS, timeoutSeconds: 60 });
  onWindow(from, Number(process.hrtime.bigint() / 1000n), figures.answered);
  const after = sample();
  const total = Math.max(1, after.machine.total - before.machine.total);
  let ours = 0;
  const row: Record<string, number> = {};
  for (const name of Object.keys(groups)) {
    const spent = ticksBetween(before.ticks[name] ?? new Map(), after.ticks[name] ?? new Map());
    ours += spent;
    row[`${name}_us`] = Math.round((spent * 1_000_000) / TICKS_PER_SECOND / Math.max(1, figures.answered));
  }
  const busy = after.machine.busy - before.machine.busy;
  return {
    ...row,
    req_s: figures.requests_per_second,
    answered: figures.answered,
    non_2xx: figures.non_2xx,
    p50_ms: figures.latency_ms.p50,
    p99_ms: figures.latency_ms.p99,
    others_pct: Math.max(0, Math.round(((busy - ours) / total) * 100)),
    loadavg: Number(os.loadavg()[0]!.toFixed(2)),
  };
}

function summarise(dir: string): void {
  const { windows, answers } = JSON.parse(readFileSync(path.join(dir, 'windows.json'), 'utf8')) as {
    windows: Array<[number, number]>;
    answers: number;
  };
  // CPU.<date>.<time>.<pid>.<thread>.<n>.cpuprofile: thread 0 is the main thread (tsx's loader has another)
  const files = readdirSync(dir).filter((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f));
  if (files.length === 0) throw new Error(`no profile in ${dir}`);
  const add = (map: Map<string, number>, key: string, us: number) => map.set(key, (map.get(key) ?? 0) + us);
  const self = new Map<string, number>();
  const totals = new Map<string, number>();
  const packages = new Map<string, number>();
  const steps = new Map<string, number>();
  let inWindow = 0;
  let idle = 0;
  for (const file of files) {
    const profile = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as {
      nodes: ProfileNode[];
      startTime: number;
      samples: number[];
      timeDeltas: number[];
    };
    const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const where = (n: ProfileNode) => {
      const url = n.callFrame.url.replace(/^file:\/\//, '');
      const inModules = url.lastIndexOf('node_modules/');
      if (inModules >= 0) return url.slice(inModules + 'node_modules/'.length);
      const inSrc = url.indexOf('/src/');
      return inSrc >= 0 ? url.slice(inSrc + 1) : url;
    };
    const name = (n: ProfileNode) =>
      `${n.callFrame.functionName || '(anonymous)'} ${where(n)}:${n.callFrame.lineNumber + 1}`;
    const packageOf = (n: ProfileNode) => {
      const w = where(n);
      if (w.startsWith('src/')) return w.split('/').slice(0, 2).join('/');
      if (w.startsWith('@')) return w.split('/').slice(0, 2).join('/');
      if (w === '') return n.callFrame.functionName.startsWith('(') ? n.callFrame.functionName : '(native)';
      if (w.startsWith('node:')) return 'node:internal';
      return w.split('/')[0]!;
    };
    const stepOf = new Map<number, string>();
    const step = (id: number): string => {
      const known = stepOf.get(id);
      if (known !== undefined) return known;
      const label = name(nodes.get(id)!);
      const found = STEPS.find(([, pattern]) => pattern.test(label))?.[0];
      const up = parent.get(id);
      const value = found ?? (up === undefined ? '(other)' : step(up));
      stepOf.set(id, value);
      return value;
    };
    let time = profile.startTime;
    profile.samples.forEach((id, i) => {
      const dt = profile.timeDeltas[i] ?? 0;
      time += dt;
      if (!windows.some(([a, b]) => time >= a && time <= b)) return;
      const node = nodes.get(id)!;
      inWindow += dt;
      if (node.callFrame.functionName === '(idle)') {
        idle += dt;
        return;
      }
      add(self, name(node), dt);
      add(packages, packageOf(node), dt);
      add(steps, step(id), dt);
      const seen = new Set<string>();
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        const key = name(nodes.get(at)!);
        if (seen.has(key)) continue;
        seen.add(key);
        add(totals, key, dt);
      }
    });
  }
  const busy = inWindow - idle;
  log(
    `\nprofile (${files.length} file(s)): ${(inWindow / 1e6).toFixed(1)} s in the measured phases, ` +
      `${(busy / 1e6).toFixed(1)} s busy, ` +
      `${answers} answers: ${Math.round(busy / Math.max(1, answers))} µs per answer (profiler's own cost included)`,
  );
  const top = Number(args.top);
  const print = (title: string, map: Map<string, number>, n: number) => {
    log(`\n${title}\n     ms      %  µs/answer`);
    for (const [key, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n))
      log(
        `${(us / 1000).toFixed(0).padStart(7)} ${((100 * us) / busy).toFixed(1).padStart(5)}% ` +
          `${(us / Math.max(1, answers)).toFixed(1).padStart(7)}   ${key}`,
      );
  };
  print('by step (nearest step on the stack)', steps, STEPS.length + 1);
  print('self time by package', packages, 25);
  print('self time by function', self, top);
  print('total time by function (itself and what it called)', totals, top);
}

// ---- round trips per request: the api in this process -----------------------------------------------
async function countRoundTrips(): Promise<void> {
  const port = await freePort();
  const runtime = createRuntime({
    config: loadConfig({ ...serviceEnv, PORT: String(port), ROLES: 'api', LOG_LEVEL: 'silent' }),
    databaseUrl: scratch.databaseUrl,
    redisUrl: scratch.redisUrl,
    log: createLogger('silent'),
  });
  const roles = await startRoles(runtime.ctx, ['api'] as Role[]);
  const workerPort = await freePort();
  const worker = await startProcess(
    'src/main.ts',
    { ...serviceEnv, PORT: String(workerPort), ROLES: 'worker' },
    /credits is up/,
    'worker',
  );
  const url = `http://127.0.0.1:${roles.port}`;
  // warm: the key and refs caches, the queue listeners
  await closedLoop(url, requests, { connections: CONNECTIONS, seconds: WARMUP, timeoutSeconds: 60 });
  await drained();

  const statements = new Map<string, number>();
  let counting = false;
  const note = (sql: string) => {
    if (!counting) return;
    const words = sql.replace(/\s+/g, ' ').trim().slice(0, 60);
    statements.set(words, (statements.get(words) ?? 0) + 1);
  };
  runtime.ctx.db.on('query', (q: { sql: string }) => note(q.sql));
  const monitorConnection = new Redis(scratch.redisUrl);
  const monitor = await monitorConnection.monitor();
  const commands = new Map<string, number>();
  const mine = ownPorts();
  monitor.on('monitor', (_time: string, argv: string[], source: string) => {
    // "127.0.0.1:54321", or "lua" for what a script calls (Redis's work, not a round trip)
    if (!counting || !mine.has(Number(source.split(':').pop()))) return;
    const command = (argv[0] ?? '').toLowerCase();
    commands.set(command, (commands.get(command) ?? 0) + 1);
  });
  counting = true;
  const driver = spawn(
    process.execPath,
    ['--import', 'tsx', 'bench/profile-api.ts', '--drive', url, ...['--seconds', String(SECONDS)]].concat([
      '--connections',
      String(CONNECTIONS),
      '--clients',
      String(CLIENTS),
    ]),
    {
      env: { ...process.env, PROFILE_KEY: key, PROFILE_STAMP: `${scratch.stamp}c` },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  driver.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  await once(driver, 'exit');
  counting = false;
  const figures = JSON.parse(out) as PhaseFigures;
  const answers = Math.max(1, figures.answered);
  const perRequest = (map: Map<string, number>) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .map(([what, n]) => `${(n / answers).toFixed(4).padStart(8)}  ${n.toString().padStart(7)}  ${what}`);
  log(`${figures.answered} answers (${figures.non_2xx} not 2xx), ${figures.requests_per_second} req/s`);
  log('\nPostgres statements (per request, in all):');
  for (const line of perRequest(statements)) log(line);
  log('\nRedis commands from the api process (per request, in all):');
  for (const line of perRequest(commands)) log(line);
  monitor.disconnect();
  monitorConnection.disconnect();
  await roles.stop();
  await runtime.close();
  await stopProcess(worker);
}

/** The local ports of this process's TCP sockets (its Redis connections among them). */
function ownPorts(): Set<number> {
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m) inodes.add(m[1]!);
    } catch {}
  }
  const ports = new Set<number>();
  for (const table of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 9 && inodes.has(cols[9]!)) ports.add(Number.parseInt(cols[1]!.split(':')[1]!, 16));
    }
  }
  return ports;
}
