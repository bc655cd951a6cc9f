/**
 * `npm run load`: an HTTP load test of POST /v1/consumptions (autocannon) against the service run
 * as it runs in production — an `api` process and a `worker` process — for a fixed time. Reports
 * throughput, error rate, latency percentiles, waits until every accepted request is applied, and
 * checks every ledger invariant afterwards.
 *
 *   npm run load -- [--seconds 30] [--connections 50] [--clients 1000] [--wait false]
 *
 * `--wait true` measures POST /v1/consumptions?wait=true (each request waits for its job).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { createDb } from '../src/db/knex.js';
import { createApiKey } from '../src/http/auth.js';
import { upsertClient } from '../src/services/clients.js';
import { createCreditType } from '../src/services/credit-types.js';
import { createPackage } from '../src/services/packages.js';
import { subscribe } from '../src/services/subscriptions.js';
import { verifyInvariants } from '../src/services/verify.js';
import { openScratch } from './scratch.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '30' },
    connections: { type: 'string', default: '50' },
    clients: { type: 'string', default: '1000' },
    wait: { type: 'string', default: 'false' },
    keep: { type: 'boolean', default: false },
  },
});
const SECONDS = Number(args.seconds);
const CONNECTIONS = Number(args.connections);
const CLIENTS = Number(args.clients);
const WAIT = args.wait === 'true';
const log = (m: string) => process.stderr.write(`${m}\n`);

const config = loadConfig({ ...process.env, LOG_LEVEL: 'silent' });
const scratch = await openScratch('load', config);
const { database, databaseUrl, stamp } = scratch;
const db = createDb({ url: databaseUrl, poolMax: 4 });

log(`setup: ${CLIENTS} clients on ${database}`);
const now = new Date();
const ct = await createCreditType(db, { code: 'load-sms', name: 'Load SMS', unit: 'message', decimals: 0 }, now);
if (!ct.ok) throw new Error(ct.detail);
const pkg = await createPackage(
  db,
  {
    code: 'load',
    name: 'Load',
    price: 100n,
    currency: 'USD',
    validity: { count: 1, unit: 'year' },
    items: [{ credit_type: 'load-sms', units: '1000000000' }],
  },
  now,
);
if (!pkg.ok) throw new Error(pkg.detail);
const refs: string[] = [];
for (let i = 0; i < CLIENTS; i += 16) {
  await Promise.all(
    Array.from({ length: Math.min(16, CLIENTS - i) }, async (_, j) => {
      const ref = `load-${i + j}`;
      const client = await upsertClient(db, { external_ref: ref, name: ref }, now);
      if (!client.ok) throw new Error(client.detail);
      const sub = await subscribe(
        db,
        { client: client.value.client.id, package: 'load' },
        { now, timeZone: 'UTC', actor: 'load' },
      );
      if (!sub.ok) throw new Error(sub.detail);
      refs[i + j] = ref;
    }),
  );
}
await db.raw('ANALYZE');
if (process.env.LOAD_PGLOG)
  await db.raw(`ALTER DATABASE ${pg.escapeIdentifier(database)} SET log_min_duration_statement = 0`);
const { key } = await createApiKey(db, { name: 'load test', scopes: ['write'], now });

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
const port = await freePort();
const env = {
  ...process.env,
  DATABASE_URL: databaseUrl,
  REDIS_URL: scratch.redisUrl,
  BULL_PREFIX: scratch.prefix,
  LOG_LEVEL: 'info',
  PORT: String(port),
  HOST: '127.0.0.1',
  RATE_LIMIT_PER_MINUTE: '10000000',
};
const start = async (roles: string): Promise<ChildProcess> => {
  // LOAD_CPU_PROF=<dir>: a V8 CPU profile of each process, written when it stops
  const profile = process.env.LOAD_CPU_PROF
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.LOAD_CPU_PROF}/${roles}`]
    : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', 'src/main.ts'], {
    env: { ...env, ROLES: roles },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    child.stdout!.on('data', (c: Buffer) => {
      seen += c.toString();
      if (seen.includes('credits is up')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`${roles} exited with ${code}`)));
  });
  child.stdout!.resume();
  return child;
};
const api = await start('api');
const worker = await start('worker');

let sequence = 0;
// the consumption id of every request answered 202: each must be applied exactly once. Requests still
// in flight when the clock stops (at most one per connection) are applied too, but nobody heard
// their answer, so they are counted apart rather than compared.
const answered = new Set<string>();
log(`load: ${CONNECTIONS} connections for ${SECONDS} s on POST /v1/consumptions${WAIT ? '?wait=true' : ''}`);
const result = await autocannon({
  url: `http://127.0.0.1:${port}`,
  connections: CONNECTIONS,
  duration: SECONDS,
  requests: [
    {
      method: 'POST',
      path: `/v1/consumptions${WAIT ? '?wait=true' : ''}`,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      setupRequest: (request) => {
        sequence += 1;
        return {
          ...request,
          body: JSON.stringify({
            client: refs[sequence % refs.length],
            credit_type: 'load-sms',
            quantity: 1,
            idempotency_key: `load-${stamp}-${sequence}`,
          }),
        };
      },
      onResponse: (status, body) => {
        if (status === 202 || status === 200) answered.add((JSON.parse(body) as { id: string }).id);
      },
    },
  ],
});

const accepted = Number(result['2xx']);
log(`waiting for the ${accepted} accepted requests to be applied`);
const deadline = Date.now() + 300_000;
for (;;) {
  const [{ n }] = (await db('consumptions').count({ n: '*' })) as [{ n: bigint }];
  const [{ pending }] = (await db('accepted_jobs').count({ pending: '*' })) as [{ pending: bigint }];
  if (Number(n) >= accepted && Number(pending) === 0) break;
  if (Date.now() > deadline) throw new Error(`only ${n} of ${accepted} applied after 5 minutes`);
  await new Promise((r) => setTimeout(r, 200));
}
for (const child of [api, worker]) {
  child.kill('SIGTERM');
  await once(child, 'exit');
}
await db.raw('ANALYZE');
const report = await verifyInvariants(db);
const [{ applied }] = (await db('consumptions').where({ status: 'applied' }).count({ applied: '*' })) as [
  { applied: bigint },
];
const [{ answeredApplied }] = (await db('consumptions')
  .where({ status: 'applied' })
  .whereRaw('id = ANY(?::uuid[])', [[...answered]])
  .count({ answeredApplied: '*' })) as [{ answeredApplied: bigint }];
const unanswered = Number(applied) - Number(answeredApplied);
const line = {
  bench: 'load',
  at: new Date().toISOString(),
  host: { cpus: os.cpus().length, node: process.version },
  settings: { seconds: SECONDS, connections: CONNECTIONS, clients: CLIENTS, wait: WAIT },
  requests_per_second: Math.round(result.requests.average),
  requests: result.requests.total,
  accepted,
  non_2xx: result.non2xx,
  errors: result.errors,
  timeouts: result.timeouts,
  error_rate: (result.non2xx + result.errors + result.timeouts) / Math.max(1, result.requests.total),
  latency_ms: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
  applied: Number(applied),
  answered_applied: Number(answeredApplied),
  applied_unanswered: unanswered,
  invariants_ok: report.ok,
};
log('');
log(`throughput   ${line.requests_per_second} requests/s (${line.requests} in ${SECONDS} s)`);
log(`errors       ${line.non_2xx} non-2xx, ${line.errors} errors, ${line.timeouts} timeouts (rate ${line.error_rate})`);
log(
  `latency      p50 ${line.latency_ms.p50} ms, p90 ${line.latency_ms.p90} ` +
    `ms, p99 ${line.latency_ms.p99} ms, max ${line.latency_ms.max} ms`,
);
log(
  `applied      ${line.answered_applied} of the ${answered.size} answered 202, once ` +
    `each; plus ${unanswered} in flight when the clock stopped (≤ ${CONNECTIONS}); ` +
    `invariants ${report.ok ? 'ok' : `${report.violationCount} VIOLATIONS`}`,
);
console.log(JSON.stringify(line));
mkdirSync('bench/results', { recursive: true });
appendFileSync('bench/results/load.jsonl', `${JSON.stringify(line)}\n`);

await db.destroy();
await scratch.finish({ keep: args.keep });
const exact =
  answered.size === accepted && line.answered_applied === accepted && unanswered >= 0 && unanswered <= CONNECTIONS;
process.exit(report.ok && line.error_rate === 0 && exact ? 0 : 1);
