/**
 * Where a consumption worker's CPU goes: sets up like `npm run bench` (a scratch database, many
 * clients with a large balance each), enqueues N uses — one `consume` job each, or carried by
 * `consume-batch` jobs of 1,000 — then runs ONE worker process under V8's profiler until they are
 * applied, and prints the functions that took the most of its CPU (self time), from the moment the
 * first job was fetched (the process's start-up is left out).
 *
 *   node --import tsx bench/profile-worker.ts [--uses 100000] [--clients 2000] [--batch true] [--top 40]
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { CreditsProducer } from '../src/producer/index.js';
import { createRuntime } from '../src/runtime.js';
import { openScratch } from './scratch.js';
import { seedClients } from './seed-clients.js';

const { values: args } = parseArgs({
  options: {
    uses: { type: 'string', default: '100000' },
    clients: { type: 'string', default: '2000' },
    batch: { type: 'string', default: 'true' },
    top: { type: 'string', default: '40' },
  },
});
const USES = Number(args.uses);
const CLIENTS = Number(args.clients);
const BATCH = args.batch === 'true';
const log = (m: string) => process.stderr.write(`${m}\n`);

const config = loadConfig({ ...process.env, LOG_LEVEL: 'silent' });
const scratch = await openScratch('profile', config);
const runtime = createRuntime({
  config: { ...config, BULL_PREFIX: scratch.prefix },
  databaseUrl: scratch.databaseUrl,
  redisUrl: scratch.redisUrl,
  log: createLogger('silent'),
  poolMax: 8,
});
const app = runtime.ctx;
const now = new Date();
const clients = (await seedClients(app.db, { code: 'p', count: CLIENTS, ref: (n) => `p-${n}`, now })).ids;
const producer = new CreditsProducer({ connection: app.redis, prefix: scratch.prefix });
const uses = Array.from({ length: USES }, (_, i) => ({
  client: clients[i % CLIENTS]!,
  credit_type: 'p-sms',
  quantity: 1,
  idempotency_key: `u${i}`,
}));
let jobs = 0;
for (let i = 0; i < USES; i += 10_000) {
  const slice = uses.slice(i, i + 10_000);
  jobs += BATCH ? (await producer.consumeMany(slice)).length : (await producer.consumeEach(slice)).length;
}
log(`${USES} uses in ${jobs} ${BATCH ? 'consume-batch' : 'consume'} jobs; starting a profiled worker`);

const dir = mkdtempSync(path.join(os.tmpdir(), 'credits-prof-'));
const child = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--import', 'tsx', 'src/main.ts'], {
  env: {
    ...process.env,
    DATABASE_URL: scratch.databaseUrl,
    REDIS_URL: scratch.redisUrl,
    BULL_PREFIX: scratch.prefix,
    ROLES: 'worker',
    LOG_LEVEL: 'info',
  },
  stdio: ['ignore', 'ignore', 'inherit'],
});
const queue = app.queues.consumption;
const started = Date.now();
// applied uses counted in Postgres: Redis keeps only the latest 5,000 completed jobs (a run of single jobs
// past that never saw its count), and a failed job with none left to run ends the wait too
for (;;) {
  const [row] = (await app.db('consumptions').count({ n: '*' })) as Array<{ n: string | number }>;
  const counts = await queue.getJobCounts('failed', 'wait', 'active', 'delayed');
  const pending = (counts.wait ?? 0) + (counts.active ?? 0) + (counts.delayed ?? 0);
  if (Number(row?.n ?? 0) >= USES || (pending === 0 && (counts.failed ?? 0) > 0)) break;
  await new Promise((r) => setTimeout(r, 100));
}
log(`applied in ${((Date.now() - started) / 1000).toFixed(1)} s (start-up included)`);
child.kill('SIGTERM');
await once(child, 'exit');
await producer.close();
await runtime.close();
await scratch.finish({ keep: false });

// ---- the profile: self time per function, from the first fetch of a job on ------------------------
interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
if (!file) throw new Error('no profile written');
const profile = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
};
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const name = (n: Node) => {
  const where = n.callFrame.url.split('/').slice(-2).join('/');
  return `${n.callFrame.functionName || '(anonymous)'} ${where}:${n.callFrame.lineNumber}`;
};
// the work starts at the first sample inside the consumption worker's code
let working = false;
const self = new Map<string, number>();
let total = 0;
profile.samples.forEach((id, i) => {
  const node = nodes.get(id)!;
  if (!working && /consume\.ts|queue-processor\.ts|micro-batcher\.ts/.test(node.callFrame.url)) working = true;
  if (!working) return;
  const key = name(node);
  const dt = profile.timeDeltas[i] ?? 0;
  self.set(key, (self.get(key) ?? 0) + dt);
  total += dt;
});
const busy = total - (self.get('(idle) :-1') ?? 0);
log(`profiled ${(total / 1e6).toFixed(1)} s after the first job, ${(busy / 1e6).toFixed(1)} s of it busy`);
log(`CPU per use in the worker: ${Math.round(busy / USES)} µs`);
for (const [key, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(args.top))) {
  log(`${(us / 1000).toFixed(0).padStart(7)} ms ${((100 * us) / busy).toFixed(1).padStart(5)}%  ${key}`);
}
