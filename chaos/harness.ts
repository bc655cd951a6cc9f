import { createHash } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { createDb, type Db } from '../src/db/knex.js';
import { createApiKey } from '../src/http/auth.js';
import { consumptionId, holdId } from '../src/ids.js';
import { CreditsProducer, ProducerValidationError } from '../src/producer/index.js';
import { redisOptions } from '../src/queue/redis.js';
import { verifyInvariants } from '../src/services/verify.js';
import { databaseStatistics } from '../test/helpers/deadlocks.js';
import { rng, shuffled } from '../test/helpers/random.js';
import { WebhookReceiver } from './receiver.js';
import {
  ChaosPostgres,
  ChaosRedis,
  freePort,
  prepareDatabase,
  REPO_ROOT,
  SERVICE_FROM_SOURCES,
  ServiceProcess,
  sleep,
  withPgClient,
} from './services.js';

/**
 * The chaos run (issue 7): a bounded stream of consumptions, recharges and renewals through the API
 * and the producer while a worker is killed mid-batch, Redis restarts (and later loses its data),
 * Postgres restarts and the webhook receiver stalls; then, once the system is quiet, proofs that
 * nothing accepted was lost or applied twice. `npm run chaos` (chaos/run.ts) and
 * test/chaos/chaos.test.ts run this with different sizes.
 */
export interface ChaosOptions {
  /** Consumptions in the stream (API single, API batch items and producer jobs together). */
  requests: number;
  seed: number;
  /** Keep the data directory (services' data and logs) afterwards. */
  keep: boolean;
  clients: number;
  /** Target length of the stream, faults included (it is paced to last about this long). */
  trafficSeconds: number;
  /** Concurrent callers. */
  lanes: number;
  /** Bound of each wait for the system to settle after the stream. */
  quietTimeoutMs: number;
  /** How long Redis and Postgres stay down when restarted. */
  outageMs: number;
  /** How long the webhook receiver holds requests (several WEBHOOK_TIMEOUT_MS). */
  stallMs: number;
  /**
   * Before Redis loses its data the queues are paused until it holds a backlog (consumptions
   * accepted through the API and producer jobs, not yet run); this bounds that wait.
   */
  backlogTimeoutMs: number;
  /** Bound of the watch for a batch transaction of the worker to kill. */
  killTimeoutMs: number;
  webhookTimeoutMs: number;
  dataRoot: string;
  /** `node`'s arguments for the service's processes (chaos/services.ts ServiceProcess). */
  serviceCommand: readonly string[];
  log(line: string): void;
}

export const DEFAULT_OPTIONS: ChaosOptions = {
  requests: 4_000,
  seed: 1,
  keep: false,
  clients: 20,
  trafficSeconds: 60,
  lanes: 16,
  quietTimeoutMs: 180_000,
  outageMs: 2_000,
  stallMs: 5_000,
  backlogTimeoutMs: 30_000,
  killTimeoutMs: 30_000,
  webhookTimeoutMs: 1_000,
  dataRoot: path.join(REPO_ROOT, '.data'),
  serviceCommand: SERVICE_FROM_SOURCES,
  log: (line) => process.stdout.write(`${line}\n`),
};

export interface Proof {
  name: string;
  ok: boolean;
  detail: string;
}

export interface FaultRecord {
  name: string;
  /** Seconds since the run started. */
  at: number;
  until: number;
  detail: string;
}

/**
 * What shows that the faults met work in flight, and that nothing was hidden behind retries: the
 * chaos test asserts each count.
 */
export interface LiveWork {
  /**
   * The batch transaction of the killed worker: open (holding row locks) when the kill came, rolled
   * back by it. `pid` is its Postgres backend's.
   */
  killedTransaction: { pid: number; xid: string; ageMs: number; statusAfterKill: string } | null;
  /** Consumption jobs Redis held (waiting or active) when it lost its data. */
  backlogAtWipe: number;
  /** Of them, by origin: accepted through the API (single or batch) and pushed by the producer. */
  backlogByOrigin: { api: number; producer: number };
  /** Accepted requests the relay enqueued again after the wipe (its "missing from Redis" log lines). */
  requeuedAfterWipe: number;
  /** Producer consumptions missing before the replay (lost with Redis's data) and applied by it. */
  producerLostThenApplied: number;
  /**
   * Deadlocks Postgres detected in the run's database (pg_stat_database, once every service process has ended); null if
   * not measured.
   */
  deadlocks: number | null;
}

export interface ChaosReport {
  id: string;
  seed: number;
  ok: boolean;
  seconds: number;
  /** Where the services' data and logs were kept (--keep), or ''. */
  dataDir: string;
  faults: FaultRecord[];
  counts: Array<[string, string | number]>;
  live: LiveWork;
  proofs: Proof[];
}

// ---------------------------------------------------------------------------------------------
// deterministic choices: the traffic mix and the callers' retry jitter come from the seed (each its
// own stream, so that a retry does not change the mix), the PRNG from test/helpers/random.ts

interface Item {
  client: string;
  clientId: string;
  credit_type: 'sms' | 'support';
  quantity: string;
  idempotency_key: string;
  mode?: 'partial';
}

type Op =
  | { kind: 'api'; item: Item }
  | { kind: 'hold'; item: Item }
  | { kind: 'close'; item: Item; action: 'capture' | 'release'; quantity?: string }
  | { kind: 'batch'; items: Item[] }
  | { kind: 'producer'; items: Item[] }
  | { kind: 'recharge'; subscriptionId: string; key: string }
  | { kind: 'renew'; subscriptionId: string; key: string };

interface Customer {
  ref: string;
  id: string;
  subscriptionId: string;
}

function planTraffic(random: () => number, customers: readonly Customer[], requests: number): Op[] {
  let n = 0;
  const item = (prefix: string): Item => {
    n += 1;
    // a skewed pick: the first clients are hot (their balances run out, and rejections make events)
    const customer = customers[Math.min(customers.length - 1, Math.floor(customers.length * random() ** 1.6))]!;
    const sms = random() < 0.8;
    const quantity = sms ? String(1 + Math.floor(random() * 5)) : ((1 + Math.floor(random() * 6)) * 0.25).toFixed(2);
    return {
      client: customer.ref,
      clientId: customer.id,
      credit_type: sms ? 'sms' : 'support',
      quantity,
      idempotency_key: `${prefix}${n}`,
      ...(random() < 0.1 ? { mode: 'partial' as const } : {}),
    };
  };
  const ops: Op[] = [];
  let left = requests;
  while (left > 0) {
    const r = random();
    if (r < 0.4) {
      ops.push({ kind: 'api', item: item('a') });
      left -= 1;
    } else if (r < 0.7) {
      const size = Math.min(left, 5 + Math.floor(random() * 16));
      ops.push({ kind: 'batch', items: Array.from({ length: size }, () => item('b')) });
      left -= size;
    } else {
      const size = random() < 0.5 ? 1 : Math.min(left, 5 + Math.floor(random() * 16));
      ops.push({ kind: 'producer', items: Array.from({ length: size }, () => item('p')) });
      left -= size;
    }
  }
  const insert = (op: Op) => ops.splice(Math.floor(ops.length * (0.03 + 0.92 * random())), 0, op);
  const recharges = Math.max(2, Math.round(requests / 100));
  for (let i = 1; i <= recharges; i += 1) {
    insert({
      kind: 'recharge',
      subscriptionId: customers[Math.floor(random() * customers.length)]!.subscriptionId,
      key: `rc-${i}`,
    });
  }
  // holds reserve units on the same balances as the uses (long-lived: the sweep does not close them here);
  // most are closed later in the stream, captured (all or part) or released
  const holds = Math.max(3, Math.round(requests / 50));
  const holdOps: Array<Extract<Op, { kind: 'hold' }>> = [];
  for (let i = 1; i <= holds; i += 1) {
    const { mode: _, ...use } = item('h');
    const op = {
      kind: 'hold' as const,
      item: { ...use, credit_type: 'sms' as const, quantity: String(1 + Math.floor(random() * 5)) },
    };
    holdOps.push(op);
    insert(op);
  }
  const renewals = Math.min(customers.length, Math.max(1, Math.round(requests / 400)));
  const order = shuffled(customers, random);
  for (const customer of order.slice(0, renewals))
    insert({ kind: 'renew', subscriptionId: customer.subscriptionId, key: `rn-${customer.subscriptionId}` });
  for (const op of holdOps) {
    const r = random();
    if (r < 0.2) continue; // left open
    const after = ops.indexOf(op) + 1;
    const quantity = r < 0.45 ? String(1 + Math.floor(random() * Number(op.item.quantity))) : undefined;
    const close: Op = {
      kind: 'close',
      item: op.item,
      action: r < 0.7 ? 'capture' : 'release',
      ...(quantity && r < 0.7 ? { quantity } : {}),
    };
    ops.splice(after + Math.floor(random() * (ops.length - after + 1)), 0, close);
  }
  return ops;
}

// ---------------------------------------------------------------------------------------------
// callers that behave like real clients: retry the same request until it is accepted

interface CallStats {
  attempts: number;
  outcomes: Map<string, number>;
  unexpected: string[];
  maxMs: number;
  /** Answers slower than 5 s. */
  slow: number;
  /** No answer within the caller's timeout. */
  hangs: number;
}

const count = (map: Map<string, number>, key: string, by = 1) => map.set(key, (map.get(key) ?? 0) + by);

class ApiCaller {
  readonly stats: CallStats = { attempts: 0, outcomes: new Map(), unexpected: [], maxMs: 0, slow: 0, hangs: 0 };

  constructor(
    private readonly baseUrl: string,
    private readonly key: string,
    /** A request still refused after this long is given up (and reported): the run ends, it never hangs. */
    private readonly giveUpMs: number,
    /** The retry jitter, seeded. */
    private readonly random: () => number,
  ) {}

  /** One attempt; a network error or a timeout throws. */
  async once(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: any; ms: number }> {
    const started = performance.now();
    this.stats.attempts += 1;
    try {
      const res = await fetch(this.baseUrl + path, {
        method,
        headers: {
          authorization: `Bearer ${this.key}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(20_000),
      });
      const text = await res.text();
      const ms = performance.now() - started;
      this.stats.maxMs = Math.max(this.stats.maxMs, ms);
      if (ms > 5_000) this.stats.slow += 1;
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        // not JSON
      }
      return { status: res.status, body: parsed, ms };
    } catch (error) {
      const ms = performance.now() - started;
      this.stats.maxMs = Math.max(this.stats.maxMs, ms);
      if (error instanceof Error && error.name === 'TimeoutError') this.stats.hangs += 1;
      throw error;
    }
  }

  /**
   * The same request (same body, same Idempotency-Key) until the API accepts it: 503 and connection
   * errors are retried with backoff, as a real client does. A 500 is recorded (it must never
   * happen) and retried too; any other refusal is recorded and ends the attempts.
   */
  async untilAccepted(
    method: string,
    path: string,
    body: unknown,
    headers: Record<string, string>,
    accepted: readonly number[],
  ): Promise<{ status: number; body: any } | undefined> {
    const giveUpAt = Date.now() + this.giveUpMs;
    for (let attempt = 0; ; attempt += 1) {
      if (Date.now() > giveUpAt) {
        this.stats.unexpected.push(`${method} ${path}: still not accepted after ${this.giveUpMs} ms of retries`);
        return undefined;
      }
      let outcome: string;
      try {
        const res = await this.once(method, path, body, headers);
        if (accepted.includes(res.status)) {
          count(this.stats.outcomes, String(res.status));
          return res;
        }
        outcome = `${res.status} ${(res.body as { code?: string } | undefined)?.code ?? ''}`.trim();
        count(this.stats.outcomes, outcome);
        if (res.status === 500)
          this.stats.unexpected.push(`${method} ${path}: 500 ${JSON.stringify(res.body).slice(0, 300)}`);
        else if (res.status !== 503 && res.status !== 429 && res.status !== 502 && res.status !== 504) {
          this.stats.unexpected.push(`${method} ${path}: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
          return undefined;
        }
      } catch (error) {
        const reason =
          error instanceof Error
            ? error.name === 'TimeoutError'
              ? 'timeout'
              : ((error.cause as { code?: string } | undefined)?.code ?? error.message)
            : String(error);
        outcome = `network error (${reason})`;
        count(this.stats.outcomes, outcome);
      }
      await sleep(Math.min(1_000, 50 * 1.5 ** attempt) * (0.5 + this.random()));
    }
  }
}

async function untilSent<T>(
  stats: Map<string, number>,
  giveUpMs: number,
  random: () => number,
  send: () => Promise<T>,
): Promise<T | undefined> {
  const giveUpAt = Date.now() + giveUpMs;
  for (let attempt = 0; ; attempt += 1) {
    if (Date.now() > giveUpAt) {
      count(stats, 'given up');
      return undefined;
    }
    try {
      const result = await send();
      count(stats, 'sent');
      return result;
    } catch (error) {
      if (error instanceof ProducerValidationError) throw error;
      count(stats, `error: ${error instanceof Error ? error.message.slice(0, 60) : String(error)}`);
      await sleep(Math.min(1_000, 50 * 1.5 ** attempt) * (0.5 + random()));
    }
  }
}

// ---------------------------------------------------------------------------------------------

/** Polls a fact until it holds, at most `timeoutMs`; never a fixed sleep standing in for "done". */
async function waitFor(
  what: string,
  timeoutMs: number,
  probe: () => Promise<{ done: boolean; detail: string }>,
): Promise<{ ok: boolean; ms: number; detail: string }> {
  const started = Date.now();
  let detail = '';
  for (;;) {
    try {
      const state = await probe();
      detail = state.detail;
      if (state.done) return { ok: true, ms: Date.now() - started, detail };
    } catch (error) {
      detail = `probe failed: ${error instanceof Error ? error.message : String(error)}`;
    }
    if (Date.now() - started > timeoutMs)
      return { ok: false, ms: Date.now() - started, detail: `${what}: not reached within ${timeoutMs} ms (${detail})` };
    await sleep(250);
  }
}

/** Lets the stream run up to a limit; faults raise it as they happen. */
class Gate {
  private waiters: Array<() => void> = [];
  constructor(private limit: number) {}
  raise(limit: number): void {
    this.limit = Math.max(this.limit, limit);
    for (const wake of this.waiters.splice(0)) wake();
  }
  async pass(index: number): Promise<void> {
    while (index >= this.limit) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }
}

const asNumber = (value: unknown): number => Number(value ?? 0);

/** What the closing proof reads of each closed hold (numbers as text: compared exactly). */
interface ClosingFacts {
  id: string;
  status: string;
  quantity: string;
  captured: string;
  released: string;
  lapsed: string;
  returned: string;
  consumed: string;
  consumptions: string;
  applied: string;
}

/** What the hold proof reads of each hold (numbers as text: compared exactly). */
interface HoldFacts {
  id: string;
  status: string;
  quantity: string;
  allocated: string;
  entries_expected: string;
  entries: string;
  taken: string;
}

/** Everything started, so that a failure or Ctrl-C still stops it. */
const running = new Set<() => Promise<void>>();

/** Stops whatever a run started (Ctrl-C in chaos/run.ts). */
export async function stopEverything(): Promise<void> {
  for (const stop of [...running]) await stop().catch(() => undefined);
}

export async function runChaos(partial: Partial<ChaosOptions> = {}): Promise<ChaosReport> {
  const options: ChaosOptions = { ...DEFAULT_OPTIONS, ...partial };
  const startedAt = Date.now();
  const id = `${startedAt.toString(36)}-${options.seed}`;
  const dir = path.join(options.dataRoot, `chaos-${id}`);
  const logs = path.join(dir, 'logs');
  mkdirSync(logs, { recursive: true });
  const since = () => (Date.now() - startedAt) / 1000;
  const note = (line: string) => options.log(`[${since().toFixed(1).padStart(6)}s] ${line}`);

  const faults: FaultRecord[] = [];
  const live: LiveWork = {
    killedTransaction: null,
    backlogAtWipe: 0,
    backlogByOrigin: { api: 0, producer: 0 },
    requeuedAfterWipe: 0,
    producerLostThenApplied: 0,
    deadlocks: null,
  };
  const proofs: Proof[] = [];
  const counts: Array<[string, string | number]> = [];
  const prove = (name: string, ok: boolean, detail: string) => {
    proofs.push({ name, ok, detail });
    note(`${ok ? 'PROOF OK  ' : 'PROOF FAIL'} ${name}: ${detail}`);
  };

  const redis = new ChaosRedis(await freePort(), path.join(dir, 'redis'), path.join(logs, 'redis.log'));
  const postgres = new ChaosPostgres(await freePort(), path.join(dir, 'postgres'), path.join(logs, 'postgres.log'));
  const processes: ServiceProcess[] = [];
  const closers: Array<() => Promise<void>> = [];
  const bounded = (work: Promise<unknown>, ms: number) => Promise.race([work.catch(() => undefined), sleep(ms)]);
  const stopAll = async () => {
    // each step bounded: a client closing against a Redis that is down must not hold the run
    for (const close of closers.splice(0).reverse()) await bounded(close(), 5_000);
    await Promise.all(processes.map((p) => p.stop(10_000).catch(() => undefined)));
    await redis.stop().catch(() => undefined);
    await postgres.stop().catch(() => undefined);
    postgres.close();
  };
  running.add(stopAll);

  try {
    note(
      `chaos ${id}: ${options.requests} consumptions over ` +
        `${options.clients} clients, seed ${options.seed}; data in ${dir}`,
    );
    await Promise.all([redis.start(), postgres.start()]);
    note(
      `redis-server pid ${redis.pid} on :${redis.port} (appendonly ` +
        `yes, noeviction); embedded Postgres on :${postgres.port}`,
    );
    const databaseUrl = await prepareDatabase(postgres.serverUrl, 'credits_chaos');
    // Postgres's own count of deadlocks, read before any service runs (see the last proof)
    const statsAtStart = await databaseStatistics(databaseUrl);
    let statsBeforeRestart = statsAtStart;
    const quiet = { warn: () => {}, error: () => {}, debug: () => {} };
    const db: Db = createDb({ url: databaseUrl, poolMax: 4, applicationName: 'chaos-harness', log: quiet });
    closers.push(() => db.destroy());
    const { key } = await createApiKey(db, { name: 'chaos', scopes: ['admin'], now: new Date() });

    const receiver = new WebhookReceiver(
      `whsec_${createHash('sha256').update(`chaos ${options.seed}`).digest('base64')}`,
    );
    await receiver.start();
    closers.push(() => receiver.stop());

    const prefix = '{chaos}';
    const apiPort = await freePort();
    const env: Record<string, string> = {
      DATABASE_URL: databaseUrl,
      REDIS_URL: redis.url,
      BULL_PREFIX: prefix,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      DATA_DIR: dir,
      WEBHOOK_TIMEOUT_MS: String(options.webhookTimeoutMs),
      WEBHOOK_BACKOFF_MS: '100',
      WEBHOOK_MAX_ATTEMPTS: '15',
      // the receiver listens on 127.0.0.1, an address the SSRF guard refuses otherwise
      WEBHOOK_ALLOW_PRIVATE: 'true',
      RELAY_INTERVAL_MS: '250',
      RELAY_GRACE_MS: '3000',
      JOB_LOCK_MS: '5000',
      RATE_LIMIT_PER_MINUTE: '10000000',
      SHUTDOWN_TIMEOUT_MS: '10000',
    };
    let serial = 0;
    const crashes: string[] = [];
    const spawnProcess = (role: 'api' | 'worker') => {
      serial += 1;
      const name = `${role}-${serial}`;
      const proc = new ServiceProcess(
        name,
        role,
        role === 'api' ? { ...env, PORT: String(apiPort) } : env,
        path.join(logs, `${name}.log`),
        options.serviceCommand,
      );
      processes.push(proc);
      void proc.exited.then(({ code, signal }) => {
        if (proc.stoppedOnPurpose) return;
        crashes.push(
          `${name} (pid ${proc.pid}) exited by itself (code ${code}, ` +
            `signal ${signal}); see ${path.join(logs, `${name}.log`)}`,
        );
        note(`CRASH ${crashes.at(-1)}`);
      });
      return proc;
    };
    const api = spawnProcess('api');
    const workers = [spawnProcess('worker'), spawnProcess('worker')];
    await Promise.all([api, ...workers].map((p) => p.waitUp(120_000)));
    note(`service up: ${[api, ...workers].map((p) => `${p.name} pid ${p.pid}`).join(', ')}`);

    // what the harness watches in Redis (its own connections, which wait through outages)
    const monitorConnection = new Redis(redisOptions(redis.url, 'worker'));
    monitorConnection.on('error', () => {});
    const monitor = new Queue('consumption', { connection: monitorConnection, prefix });
    monitor.on('error', () => {});
    const eventsConnection = new Redis(redisOptions(redis.url, 'worker'));
    eventsConnection.on('error', () => {});
    const queueEvents = new QueueEvents('consumption', { connection: eventsConnection, prefix });
    queueEvents.on('error', () => {});
    let stalledEvents = 0;
    queueEvents.on('stalled', () => (stalledEvents += 1));
    await queueEvents.waitUntilReady();
    closers.push(async () => {
      await queueEvents.close();
      await monitor.close();
      monitorConnection.disconnect();
      eventsConnection.disconnect();
    });

    const jitter = rng(options.seed ^ 0x5bd1e995);
    const caller = new ApiCaller(`http://127.0.0.1:${apiPort}`, key, options.quietTimeoutMs, jitter);
    const producerStats = new Map<string, number>();
    const producer = new CreditsProducer({ connection: redis.url, prefix });
    closers.push(() => producer.close());

    // ---- setup: endpoint first (every event after it is delivered), catalog, clients, subscriptions
    const must = async (method: string, path: string, body: unknown, headers: Record<string, string> = {}) => {
      const res = await caller.untilAccepted(method, path, body, headers, [200, 201]);
      if (!res) throw new Error(`setup failed: ${method} ${path}: ${caller.stats.unexpected.at(-1)}`);
      return res.body as Record<string, any>;
    };
    const endpoint = await must('POST', '/v1/webhook-endpoints', {
      url: receiver.url,
      events: ['*'],
      secret: receiver.secret,
    });
    const smsUnits = Math.max(50, Math.round(((options.requests * 0.8 * 3) / options.clients) * 0.5));
    await must('POST', '/v1/credit-types', { code: 'sms', name: 'SMS', unit: 'message', decimals: 0 });
    await must('POST', '/v1/credit-types', { code: 'support', name: 'Support', unit: 'hour', decimals: 2 });
    await must('POST', '/v1/packages', {
      code: 'chaos',
      name: 'Chaos',
      price: 4900,
      currency: 'USD',
      validity: { count: 1, unit: 'month' },
      items: [
        { credit_type: 'sms', units: smsUnits },
        { credit_type: 'support', units: '40' },
      ],
    });
    const customers: Customer[] = [];
    for (let i = 0; i < options.clients; i += 1) {
      const ref = `chaos-client-${i}`;
      const client = await must('POST', '/v1/clients', { external_ref: ref, name: `Chaos client ${i}` });
      const subscription = await must(
        'POST',
        '/v1/subscriptions',
        { client: ref, package: 'chaos' },
        { 'Idempotency-Key': `sub-${ref}` },
      );
      customers.push({ ref, id: String(client.id), subscriptionId: String(subscription.id) });
    }
    note(
      `setup: webhook endpoint ${String(endpoint.id)} → ${receiver.url}; ${customers.length} ` +
        `clients with a subscription each (${smsUnits} sms, 40 support hours)`,
    );

    // ---- the stream
    const ops = planTraffic(rng(options.seed), customers, options.requests);
    const apiAccepted = new Map<string, Item>();
    const producerSent = new Map<string, Item>();
    const holdsAccepted = new Map<string, Item>();
    /** Closings the API accepted, by hold id (a hold found rejected is not closed). */
    const closingsAccepted = new Map<string, { clientId: string; action: 'capture' | 'release'; quantity?: string }>();
    const recharges: Array<{ subscriptionId: string; key: string; jobId: string }> = [];
    const renewals: Array<{ subscriptionId: string; key: string; jobId: string }> = [];
    const opCounts = new Map<string, number>();
    for (const op of ops) count(opCounts, op.kind);

    const run = async (op: Op): Promise<void> => {
      switch (op.kind) {
        case 'api': {
          const { clientId, ...body } = op.item;
          const res = await caller.untilAccepted('POST', '/v1/consumptions', body, {}, [202]);
          if (res) apiAccepted.set(consumptionId(clientId, op.item.idempotency_key), op.item);
          return;
        }
        case 'hold': {
          const { clientId, ...body } = op.item;
          const res = await caller.untilAccepted(
            'POST',
            '/v1/holds',
            { ...body, expires_in_seconds: 7 * 86_400 },
            {},
            [202],
          );
          if (res) holdsAccepted.set(holdId(clientId, op.item.idempotency_key), op.item);
          return;
        }
        case 'close': {
          // a real client closes a hold it was told about: wait until the hold is taken (or refused)
          const id = holdId(op.item.clientId, op.item.idempotency_key);
          const until = Date.now() + options.quietTimeoutMs;
          let status = 'queued';
          while (status === 'queued' && Date.now() < until) {
            const res = await caller.once('GET', `/v1/holds/${id}`).catch(() => undefined);
            if (res?.status === 200 && res.body.status !== 'queued') status = String(res.body.status);
            else await sleep(50 + Math.floor(jitter() * 100));
          }
          if (status !== 'held') return;
          const res = await caller.untilAccepted(
            'POST',
            `/v1/holds/${id}/${op.action}`,
            op.action === 'capture' && op.quantity ? { quantity: op.quantity } : undefined,
            {},
            [200, 202],
          );
          if (res)
            closingsAccepted.set(id, {
              clientId: op.item.clientId,
              action: op.action,
              ...(op.quantity ? { quantity: op.quantity } : {}),
            });
          return;
        }
        case 'batch': {
          const res = await caller.untilAccepted(
            'POST',
            '/v1/consumptions/batch',
            { items: op.items.map(({ clientId, ...body }) => body) },
            {},
            [202],
          );
          if (res)
            for (const item of op.items) apiAccepted.set(consumptionId(item.clientId, item.idempotency_key), item);
          return;
        }
        case 'producer': {
          const bodies = op.items.map(({ clientId, ...body }) => body);
          const sent =
            bodies.length === 1
              ? await untilSent(producerStats, options.quietTimeoutMs, jitter, () => producer.consume(bodies[0]!))
              : await untilSent(producerStats, options.quietTimeoutMs, jitter, () => producer.consumeEach(bodies));
          if (sent)
            for (const item of op.items) producerSent.set(consumptionId(item.clientId, item.idempotency_key), item);
          return;
        }
        case 'recharge': {
          const res = await caller.untilAccepted(
            'POST',
            `/v1/subscriptions/${op.subscriptionId}/recharge`,
            undefined,
            { 'Idempotency-Key': op.key },
            [202],
          );
          if (res) recharges.push({ subscriptionId: op.subscriptionId, key: op.key, jobId: String(res.body.job_id) });
          return;
        }
        case 'renew': {
          const res = await caller.untilAccepted(
            'POST',
            `/v1/subscriptions/${op.subscriptionId}/renew`,
            undefined,
            { 'Idempotency-Key': op.key },
            [202],
          );
          if (res) renewals.push({ subscriptionId: op.subscriptionId, key: op.key, jobId: String(res.body.job_id) });
          return;
        }
      }
    };

    // ---- faults, each at a point of the stream; the stream may not run past the next one's point
    // before the current fault is over, so every fault happens while requests are flowing
    interface Fault {
      at: number;
      name: string;
      run(): Promise<string>;
    }
    const hold = () => sleep(options.outageMs);
    /** Consumption jobs Redis holds: waiting (paused or not), active, delayed. */
    const consumptionBacklog = async () =>
      Object.values(await monitor.getJobCounts('waiting', 'active', 'prioritized', 'delayed')).reduce(
        (a, b) => a + b,
        0,
      );
    /**
     * The same jobs by origin, told apart by the stream's own idempotency keys: `a…` and `b…` were
     * accepted through the API (single, batch), `p…` pushed by the producer.
     */
    const backlogByOrigin = async () => {
      // only jobs not yet taken count as work the loss meets: an active job may have committed
      // (and settled its request) already, and then there is nothing left for the relay to find
      const jobs = await monitor.getJobs(['waiting', 'active', 'prioritized', 'delayed'], 0, 9_999);
      const notTaken = await monitor.getJobs(['waiting', 'prioritized', 'delayed'], 0, 9_999);
      const keyOf = (data: unknown) =>
        String((data as { idempotency_key?: unknown } | undefined)?.idempotency_key ?? '');
      // the API's batch endpoint carries its uses in consume-batch jobs: each use counts
      const usesOf = (j: (typeof jobs)[number]) =>
        j?.name === 'consume-batch' ? ((j.data as { items?: unknown[] }).items?.length ?? 0) : 0;
      return {
        total: jobs.length,
        api: notTaken.reduce((n, j) => n + (j?.name === 'consume' && /^[ab]\d/.test(keyOf(j.data)) ? 1 : usesOf(j)), 0),
        producer: notTaken.filter((j) => j?.name === 'consume' && /^p\d/.test(keyOf(j.data))).length,
      };
    };
    /**
     * "Killed mid-batch", measured honestly: not that a batch transaction was seen a moment before
     * the kill (it may commit in between), but that one was open at the kill and the kill rolled it
     * back. As soon as pg_stat_activity shows one of the worker's hot-path connections in a
     * transaction holding row locks (an xid is assigned at its first FOR UPDATE), the worker is
     * frozen (SIGSTOP): it can no longer send that transaction's next statement or its COMMIT, so
     * once the backend waits for it ('idle in transaction', an xid) the SIGKILL comes, and afterwards
     * Postgres says what became of that xid (pg_xact_status): it must be 'aborted'. A transaction
     * that was already committing is let go: the worker is thawed and watched again.
     */
    const killWorker = async (): Promise<string> => {
      const target = workers[0]!;
      target.stoppedOnPurpose = true;
      const applicationName = `credits-consumption:${target.pid}`;
      const caught = await withPgClient(databaseUrl, async (client) => {
        const open = async () =>
          (
            await client.query<{ pid: number; state: string; xid: string; xmax: string; ms: string; since: string }>(
              `SELECT pid, state, backend_xid::text AS xid, pg_snapshot_xmax(pg_current_snapshot())::text AS xmax,
                      state_change::text AS since,
                      round(extract(epoch FROM clock_timestamp() - xact_start) * 1000)::text AS ms
                 FROM pg_stat_activity WHERE application_name = $1 AND backend_xid IS NOT NULL`,
              [applicationName],
            )
          ).rows;
        const deadline = Date.now() + options.killTimeoutMs;
        let attempts = 0;
        while (Date.now() < deadline) {
          if ((await open()).length === 0) continue;
          attempts += 1;
          target.child.kill('SIGSTOP');
          let waiting: Awaited<ReturnType<typeof open>>[number] | undefined;
          // frozen: a statement already running in Postgres finishes, then its backend waits
          for (const until = Date.now() + 2_000; Date.now() < until; ) {
            const rows = await open();
            const idle = rows.find((r) => r.state === 'idle in transaction');
            if (idle) {
              // idle, and still idle a moment later in the same state: no statement (a COMMIT the
              // worker wrote to its socket just before it froze) was waiting to be read
              await sleep(30);
              const again = (await open()).find((r) => r.pid === idle.pid);
              if (again?.state === 'idle in transaction' && again.xid === idle.xid && again.since === idle.since) {
                waiting = idle;
                break;
              }
              continue;
            }
            if (rows.length === 0) break;
            await sleep(2);
          }
          if (waiting) {
            target.child.kill('SIGKILL');
            return { ...waiting, attempts };
          }
          target.child.kill('SIGCONT');
        }
        return undefined;
      });
      // without a transaction caught the fault still happens (and its proof fails)
      if (!caught) target.child.kill('SIGKILL');
      await target.exited;
      const active = await monitor.getActiveCount();
      if (caught) {
        // the xid as a full 64-bit id, next to the xmax read with it: the 32-bit distance between the
        // two taken as signed (the xid may be assigned just after the statement's snapshot, so a little
        // above xmax; near an epoch boundary it may sit on either side of it)
        const xmax = BigInt(caught.xmax);
        const distance = BigInt.asIntN(32, BigInt(caught.xid) - (xmax & 0xffffffffn));
        const xid = xmax + distance;
        // Postgres rolls it back once the backend finds its client gone
        const status = await waitFor('the killed transaction ends', 15_000, async () => {
          const found = await withPgClient(databaseUrl, (client) =>
            client.query<{ status: string | null }>('SELECT pg_xact_status($1::text::xid8) AS status', [String(xid)]),
          );
          const value = found.rows[0]?.status ?? 'unknown';
          return { done: value !== 'in progress', detail: value };
        });
        live.killedTransaction = {
          pid: caught.pid,
          xid: String(xid),
          ageMs: Number(caught.ms),
          statusAfterKill: status.detail,
        };
      }
      const replacement = spawnProcess('worker');
      workers.push(replacement);
      const replacementStarted = Date.now();
      await replacement.waitUp(120_000);
      const killed = live.killedTransaction;
      const when = killed
        ? `while its batch transaction (xid ${killed.xid}, ${killed.ageMs} ms old, backend pid ${killed.pid}) ` +
          `held row locks and waited for it (caught on attempt ${caught?.attempts}); ` +
          `Postgres then reports that transaction ${killed.statusAfterKill}`
        : `(no open batch transaction caught within ${options.killTimeoutMs} ms)`;
      return (
        `${target.name} (pid ${target.pid}) frozen and killed with SIGKILL ${when}; ` +
        `${active} consumption jobs were active (locked) right after; ${replacement.name} (pid ` +
        `${replacement.pid}) up after ${((Date.now() - replacementStarted) / 1000).toFixed(1)} s`
      );
    };
    const restartRedis = async (): Promise<string> => {
      const inFlight = await consumptionBacklog();
      const keys = await redis.dbsize();
      const pid = redis.pid;
      await redis.stop();
      const downAt = Date.now();
      await hold();
      await redis.start();
      const back = await redis.dbsize();
      return (
        `SIGTERM to redis-server pid ${pid} holding ${keys} keys (${inFlight} consumption ` +
        `jobs waiting or active); down ${Date.now() - downAt} ms; started again on the ` +
        `same data dir (pid ${redis.pid}) with ${back} keys back from its append-only file`
      );
    };
    let requeuedAtWipe = 0;
    const loseRedisData = async (): Promise<string> => {
      // First a backlog, as when the workers fall behind: the queues are paused (the stream goes
      // on) until Redis holds consumptions accepted through the API and jobs of the producer, not
      // yet run — waited for as a fact, not for a fixed time — so that the loss meets work in flight.
      const paused = (['consumption', 'recharge', 'renewal', 'webhooks'] as const).map((name) =>
        new Queue(name, { connection: monitorConnection, prefix }).on('error', () => {}),
      );
      await Promise.all(paused.map((q) => q.pause()));
      const pausedAt = Date.now();
      const built = await waitFor('a backlog in Redis', options.backlogTimeoutMs, async () => {
        const held = await backlogByOrigin();
        return {
          done: held.api > 0 && held.producer > 0,
          detail: `consumption jobs in Redis: ${held.api} accepted through the API, ${held.producer} from the producer`,
        };
      });
      const backlog = await Promise.all(
        paused.map(
          async (q) =>
            [
              q.name,
              Object.values(await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized')).reduce(
                (a, b) => a + b,
                0,
              ),
            ] as const,
        ),
      );
      // the moment of the loss: what Redis holds now is what it loses
      const held = await backlogByOrigin();
      live.backlogAtWipe = held.total;
      live.backlogByOrigin = { api: held.api, producer: held.producer };
      requeuedAtWipe = processes.reduce((sum, p) => sum + p.requeued, 0);
      const pausedFor = Date.now() - pausedAt;
      const keys = await redis.dbsize();
      const pending = ((await db('accepted_jobs').count({ n: '*' })) as Array<{ n: unknown }>)[0]?.n;
      const pendingDeliveries = (
        (await db('webhook_deliveries').where({ status: 'pending' }).count({ n: '*' })) as Array<{ n: unknown }>
      )[0]?.n;
      const pid = redis.pid;
      await redis.kill();
      redis.wipe();
      const downAt = Date.now();
      await hold();
      await redis.start();
      await Promise.all(paused.map((q) => q.close()));
      return (
        `queues paused ${pausedFor} ms until Redis held a backlog ` +
        `(${built.ok ? '' : 'NOT REACHED: '}${backlog.map(([name, n]) => `${n} ${name}`).join(', ')} jobs; ` +
        `of the consumptions ${live.backlogByOrigin.api} accepted through ` +
        `the API and ${live.backlogByOrigin.producer} from the producer); ` +
        `then SIGKILL to redis-server pid ${pid} holding ${keys} keys, its data dir ` +
        `deleted, started empty (pid ${redis.pid}) after ${Date.now() - downAt} ms; ` +
        `at that moment ${asNumber(pending)} API requests were accepted and not applied ` +
        `(accepted_jobs) and ${asNumber(pendingDeliveries)} webhook deliveries pending`
      );
    };
    const restartPostgres = async (): Promise<string> => {
      // the statistics so far, as flushed: if the restart lost them, the deadlock count would prove nothing
      statsBeforeRestart = await databaseStatistics(databaseUrl);
      const inFlight = await withPgClient(databaseUrl, (client) =>
        client.query<{ n: string }>(
          'SELECT count(*)::text AS n FROM pg_stat_activity WHERE ' +
            `application_name LIKE 'credits-%' AND xact_start IS NOT NULL`,
        ),
      );
      await postgres.stop();
      const downAt = Date.now();
      await hold();
      await postgres.start();
      return (
        'embedded Postgres stopped (fast shutdown: open transactions rolled back, every ' +
        `connection cut) while ${inFlight.rows[0]?.n ?? '?'} service connections were in ` +
        `a transaction; down ${Date.now() - downAt} ms; started again on the same data dir`
      );
    };
    let stallDone: Promise<void> = Promise.resolve();
    const stallReceiver = async (): Promise<string> => {
      receiver.stall();
      const heldBefore = receiver.heldWhileStalled;
      const at = since();
      stallDone = sleep(options.stallMs).then(() => {
        receiver.resume();
        const record = faults.find((f) => f.name === 'stall the webhook receiver');
        if (record) {
          record.until = since();
          record.detail += `; it held ${receiver.heldWhileStalled - heldBefore} requests, then answered again`;
        }
        note(
          `webhook receiver answers again (held ${receiver.heldWhileStalled - heldBefore} ` +
            `requests during ${(since() - at).toFixed(1)} s)`,
        );
      });
      return (
        `the receiver holds every request for ${options.stallMs} ms (WEBHOOK_TIMEOUT_MS ` +
        `is ${options.webhookTimeoutMs}): the sender times out and retries`
      );
    };
    const schedule: Fault[] = [
      { at: 0.1, name: 'kill -9 a worker mid-batch', run: killWorker },
      { at: 0.25, name: 'restart Redis', run: restartRedis },
      { at: 0.4, name: 'stall the webhook receiver', run: stallReceiver },
      { at: 0.45, name: 'restart Postgres', run: restartPostgres },
      { at: 0.65, name: 'Redis loses its data', run: loseRedisData },
    ];
    const point = (fraction: number) => Math.floor(ops.length * fraction);
    const gate = new Gate(point(schedule[1]?.at ?? 1));
    let completed = 0;
    const progressWaiters: Array<{ target: number; resolve: () => void }> = [];
    const completedOne = () => {
      completed += 1;
      for (const w of progressWaiters.filter((w) => completed >= w.target)) {
        progressWaiters.splice(progressWaiters.indexOf(w), 1);
        w.resolve();
      }
    };
    const progress = (target: number) =>
      completed >= target
        ? Promise.resolve()
        : new Promise<void>((resolve) => progressWaiters.push({ target, resolve }));

    const trafficStarted = Date.now();
    const spacingMs = (options.trafficSeconds * 1000) / ops.length;
    let next = 0;
    const lane = async () => {
      for (;;) {
        const index = next;
        if (index >= ops.length) return;
        next += 1;
        await gate.pass(index);
        const due = trafficStarted + index * spacingMs;
        if (due > Date.now()) await sleep(due - Date.now());
        await run(ops[index]!);
        completedOne();
      }
    };
    const faultRunner = async () => {
      for (const [i, fault] of schedule.entries()) {
        await progress(point(fault.at));
        const at = since();
        note(`FAULT ${fault.name} (at ${completed}/${ops.length} operations)`);
        const record: FaultRecord = { name: fault.name, at, until: at, detail: '' };
        faults.push(record);
        const seen = () => ({
          refused: [...caller.stats.outcomes].filter(([k]) => !/^20[012]$/.test(k)).reduce((n, [, v]) => n + v, 0),
          producer: [...producerStats].filter(([k]) => k.startsWith('error')).reduce((n, [, v]) => n + v, 0),
        });
        const before = seen();
        record.detail = await fault.run();
        const after = seen();
        if (after.refused > before.refused || after.producer > before.producer) {
          record.detail +=
            `; meanwhile callers were refused ${after.refused - before.refused} times (503 or no ` +
            `connection) and producer calls failed ${after.producer - before.producer} times, each retried`;
        }
        if (record.until === at) record.until = since();
        note(`      ${record.detail}`);
        gate.raise(point(schedule[i + 2]?.at ?? 1) + (schedule[i + 2] ? 0 : ops.length));
      }
    };
    note(
      `stream: ${ops.length} operations (${[...opCounts].map(([k, v]) => `${v} ${k}`).join(', ')}), ` +
        `paced over ~${options.trafficSeconds} s by ${options.lanes} callers`,
    );
    const loud = (what: string, work: Promise<void>) =>
      work.catch((error: unknown) => {
        note(`${what} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
        throw error;
      });
    await Promise.all([
      loud('the fault runner', faultRunner()),
      ...Array.from({ length: options.lanes }, (_, i) => loud(`caller ${i + 1}`, lane())),
    ]);
    await stallDone;
    note(
      `stream done in ${((Date.now() - trafficStarted) / 1000).toFixed(1)} s: ` +
        `${apiAccepted.size} consumptions accepted by the API, ${producerSent.size} sent ` +
        `by the producer, ${recharges.length} recharges, ${renewals.length} renewals`,
    );

    // ---- quiet: wait on facts
    const apiIds = [...apiAccepted.keys()];
    const producerIds = [...producerSent.keys()];
    const countIds = async (ids: string[]) => {
      const rows = await db.raw<{ rows: Array<{ n: string }> }>(
        'SELECT count(*) AS n FROM consumptions WHERE id = ANY(?::uuid[])',
        [ids],
      );
      return asNumber(rows.rows[0]?.n);
    };
    const waits: Array<[string, { ok: boolean; ms: number; detail: string }]> = [];
    const settle = async (what: string, probe: () => Promise<{ done: boolean; detail: string }>) => {
      const result = await waitFor(what, options.quietTimeoutMs, probe);
      waits.push([what, result]);
      note(
        `${result.ok ? 'settled' : 'NOT SETTLED'}: ${what} after ${(result.ms / 1000).toFixed(1)} s (${result.detail})`,
      );
      return result;
    };
    await settle('every API-accepted consumption has its row', async () => {
      const n = await countIds(apiIds);
      return { done: n === apiIds.length, detail: `${n}/${apiIds.length}` };
    });
    const holdIds = [...holdsAccepted.keys()];
    await settle('every API-accepted hold has its row', async () => {
      const rows = await db.raw<{ rows: Array<{ n: string }> }>(
        'SELECT count(*) AS n FROM holds WHERE id = ANY(?::uuid[])',
        [holdIds],
      );
      const n = asNumber(rows.rows[0]?.n);
      return { done: n === holdIds.length, detail: `${n}/${holdIds.length}` };
    });
    await settle('every accepted recharge and renewal is applied', async () => {
      const r = asNumber(
        ((await db('recharges').where({ auto: false }).count({ n: '*' })) as Array<{ n: unknown }>)[0]?.n,
      );
      const p = asNumber(
        ((await db('subscription_periods').where({ kind: 'renewal' }).count({ n: '*' })) as Array<{ n: unknown }>)[0]
          ?.n,
      );
      return {
        done: r >= recharges.length && p >= renewals.length,
        detail: `recharges ${r}/${recharges.length}, renewal periods ${p}/${renewals.length}`,
      };
    });
    await settle('accepted_jobs is empty and the consumption queue is idle', async () => {
      const a = asNumber(((await db('accepted_jobs').count({ n: '*' })) as Array<{ n: unknown }>)[0]?.n);
      const c = await monitor.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children');
      const queued = Object.values(c).reduce((s, v) => s + v, 0);
      return { done: a === 0 && queued === 0, detail: `accepted_jobs ${a}, queued or active jobs ${queued}` };
    });
    // every accepted request is applied: whatever the relay found missing after the wipe is counted by now
    live.requeuedAfterWipe = processes.reduce((sum, p) => sum + p.requeued, 0) - requeuedAtWipe;

    // ---- the producer's guarantee: what Redis held; then a replay of its whole stream
    const producerAppliedBefore = await countIds(producerIds);
    const failedJobs = await monitor.getJobCounts('failed');
    const before = await db.raw<{ rows: Array<{ id: string; created_at: Date; entries: string }> }>(
      'SELECT c.id, c.created_at, (SELECT count(*) FROM ledger_entries e WHERE ' +
        'e.consumption_id = c.id) AS entries FROM consumptions c WHERE c.id = ANY(?::uuid[])',
      [producerIds],
    );
    const appliedBeforeReplay = new Set(before.rows.map((r) => r.id));
    const missingBeforeReplay = producerIds.filter((i) => !appliedBeforeReplay.has(i));
    note(
      `producer: ${producerAppliedBefore}/${producerIds.length} of its jobs applied before the ` +
        `replay (${producerIds.length - producerAppliedBefore} lost with Redis's data); ` +
        `${failedJobs.failed ?? 0} failed jobs in the consumption queue; replaying its whole stream`,
    );
    const replayItems = [...producerSent.values()].map(({ clientId, ...body }) => body);
    for (let i = 0; i < replayItems.length; i += 200) {
      const chunk = replayItems.slice(i, i + 200);
      if (!(await untilSent(producerStats, options.quietTimeoutMs, jitter, () => producer.consumeEach(chunk))))
        throw new Error('the producer could not replay its stream: Redis refused it for too long');
    }
    await settle('every producer consumption has its row after the replay', async () => {
      const n = await countIds(producerIds);
      return { done: n === producerIds.length, detail: `${n}/${producerIds.length}` };
    });
    await settle('the consumption queue is idle after the replay', async () => {
      const c = await monitor.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children');
      const queued = Object.values(c).reduce((s, v) => s + v, 0);
      return { done: queued === 0, detail: `queued or active jobs ${queued}` };
    });

    // ---- webhooks: every event dispatched, every delivery delivered, and seen by the receiver
    await settle('every outbox event is delivered to the endpoint and seen by the receiver', async () => {
      const pendingEvents = asNumber(
        ((await db('outbox_events').whereNull('dispatched_at').count({ n: '*' })) as Array<{ n: unknown }>)[0]?.n,
      );
      const deliveries = (await db('webhook_deliveries').select('id', 'status')) as Array<{
        id: string;
        status: string;
      }>;
      const notDelivered = deliveries.filter((d) => d.status !== 'delivered').length;
      const unseen = deliveries.filter((d) => !(receiver.deliveries.get(d.id)?.acknowledged ?? 0)).length;
      return {
        done: pendingEvents === 0 && notDelivered === 0 && unseen === 0,
        detail:
          `undispatched events ${pendingEvents}, deliveries not delivered ` +
          `${notDelivered}, delivered but not acknowledged by the receiver ${unseen}`,
      };
    });

    // ---- every service process stops (SIGTERM, gracefully): their connections end, and with them
    // the statistics their backends had not flushed yet — only now is the deadlock count complete
    const exitCodes = await Promise.all(
      processes
        .filter((p) => p.alive)
        .map(async (p) => {
          await p.stop(15_000);
          return `${p.name} ${(await p.exited).code}`;
        }),
    );
    const statsAtEnd = await databaseStatistics(databaseUrl);
    const statsKept = statsAtEnd.xactCommit >= statsBeforeRestart.xactCommit;
    live.deadlocks = statsAtEnd.deadlocks - statsAtStart.deadlocks;

    // ---- proofs
    const rows = (await db('consumptions').select('id', 'client_id', 'idempotency_key', 'status')) as Array<{
      id: string;
      client_id: string;
      idempotency_key: string;
      status: string;
    }>;
    const perKey = new Map<string, number>();
    for (const r of rows) count(perKey, `${r.client_id}\n${r.idempotency_key}`);
    const twice = [...perKey.values()].filter((n) => n > 1).length;
    const present = new Set(rows.map((r) => r.id));
    const missingApi = apiIds.filter((i) => !present.has(i));
    prove(
      'every consumption the API accepted is applied exactly once',
      missingApi.length === 0 && twice === 0,
      `${apiIds.length} accepted (single and batch); rows found ${apiIds.length - missingApi.length}; ` +
        `missing ${missingApi.length}; (client, idempotency_key) with more than one row: ${twice}`,
    );
    const captureIds = [...closingsAccepted]
      .filter(([, c]) => c.action === 'capture')
      .map(([id, c]) => consumptionId(c.clientId, `hold:${id}`));
    const sent = new Set([...apiIds, ...producerIds, ...captureIds]);
    const extra = rows.filter((r) => !sent.has(r.id)).length;
    prove(
      'no consumption exists that was not sent',
      extra === 0 && rows.length === sent.size,
      `${rows.length} consumptions in the database, ${sent.size} sent; unknown ${extra}`,
    );

    const rechargeRows = (await db('recharges').select(
      'subscription_id',
      'idempotency_key',
      'auto',
      'invoice_id',
    )) as Array<{ subscription_id: string; idempotency_key: string; auto: boolean; invoice_id: string | null }>;
    const rechargeKeys = new Map<string, number>();
    for (const r of rechargeRows) count(rechargeKeys, `${r.subscription_id}\n${r.idempotency_key}`);
    const rechargeMissing = recharges.filter((r) => rechargeKeys.get(`${r.subscriptionId}\n${r.key}`) !== 1).length;
    const rechargeInvoices = asNumber(
      ((await db('invoices').where({ kind: 'recharge' }).count({ n: '*' })) as Array<{ n: unknown }>)[0]?.n,
    );
    prove(
      'every recharge the API accepted is applied exactly once (by key)',
      rechargeMissing === 0 && rechargeRows.length === recharges.length && rechargeInvoices === recharges.length,
      `${recharges.length} accepted; ${rechargeRows.length} recharge rows; keys without ` +
        `exactly one row ${rechargeMissing}; recharge invoices ${rechargeInvoices}`,
    );

    const periodRows = (await db('subscription_periods')
      .where({ kind: 'renewal' })
      .select('subscription_id', 'job_id')) as Array<{ subscription_id: string; job_id: string }>;
    const periodsByJob = new Map<string, number>();
    for (const p of periodRows) count(periodsByJob, p.job_id);
    const renewalMissing = renewals.filter((r) => periodsByJob.get(r.jobId) !== 1).length;
    const renewalInvoices = asNumber(
      ((await db('invoices').where({ kind: 'renewal' }).count({ n: '*' })) as Array<{ n: unknown }>)[0]?.n,
    );
    prove(
      'every renewal the API accepted is applied exactly once (one new period each)',
      renewalMissing === 0 && periodRows.length === renewals.length && renewalInvoices === renewals.length,
      `${renewals.length} accepted; ${periodRows.length} renewal periods; jobs without ` +
        `exactly one period ${renewalMissing}; renewal invoices ${renewalInvoices}`,
    );

    // every hold: one row; a taken one reserved exactly its quantity once (allocations and `hold` entries),
    // whatever became of it since; a rejected one nothing
    const holdRows = (
      await db.raw<{ rows: HoldFacts[] }>(
        `SELECT h.id, h.status, h.quantity::text,
                COALESCE((SELECT sum(a.amount) FROM hold_allocations a WHERE a.hold_id = h.id), 0)::text AS allocated,
                (SELECT count(*) FROM hold_allocations a WHERE a.hold_id = h.id)::text AS entries_expected,
                (SELECT count(*) FROM ledger_entries e WHERE e.kind = 'hold' AND e.reason = 'hold ' || h.id)::text
                  AS entries,
                COALESCE((SELECT -sum(e.amount) FROM ledger_entries e
                           WHERE e.kind = 'hold' AND e.reason = 'hold ' || h.id), 0)::text AS taken
           FROM holds h`,
      )
    ).rows;
    const holdStatuses = new Map<string, number>();
    for (const h of holdRows) count(holdStatuses, h.status);
    const badHolds = holdRows.filter((h) =>
      h.status === 'rejected'
        ? h.allocated !== '0' || h.taken !== '0'
        : h.allocated !== h.quantity || h.taken !== h.quantity || h.entries !== h.entries_expected,
    );
    const unknownHolds = holdRows.filter((h) => !holdsAccepted.has(h.id)).length;
    prove(
      'every hold the API accepted is applied exactly once',
      holdRows.length === holdsAccepted.size && unknownHolds === 0 && badHolds.length === 0,
      `${holdsAccepted.size} accepted; ${holdRows.length} hold rows (${[...holdStatuses]
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}); not sent ${unknownHolds}; not reserving exactly their quantity once ${badHolds.length}`,
    );

    // every closing the API accepted happened once: the hold is captured or released, every held unit came
    // back once (`release` entries), a capture made one consumption of exactly what it took (its `consume`
    // entries), and nothing closed a hold that nobody asked to close
    const closedRows = (
      await db.raw<{ rows: ClosingFacts[] }>(
        `SELECT h.id, h.status, h.quantity::text, COALESCE(h.captured, 0)::text AS captured,
                COALESCE(h.released, 0)::text AS released, COALESCE(h.lapsed, 0)::text AS lapsed,
                COALESCE((SELECT sum(e.amount) FROM ledger_entries e
                           WHERE e.kind = 'release' AND e.reason = 'hold ' || h.id), 0)::text AS returned,
                COALESCE((SELECT -sum(e.amount) FROM ledger_entries e
                           WHERE e.kind = 'consume' AND e.reason = 'hold ' || h.id), 0)::text AS consumed,
                (SELECT count(*) FROM consumptions c WHERE c.id = h.consumption_id)::text AS consumptions,
                COALESCE((SELECT c.applied FROM consumptions c WHERE c.id = h.consumption_id), 0)::text AS applied
           FROM holds h WHERE h.status IN ('captured', 'released', 'expired')`,
      )
    ).rows;
    const closedById = new Map(closedRows.map((r) => [r.id, r]));
    const badClosings = [...closingsAccepted].filter(([id, c]) => {
      const r = closedById.get(id);
      if (!r || r.returned !== r.quantity) return true;
      const total = BigInt(r.captured) + BigInt(r.released) + BigInt(r.lapsed);
      if (total.toString() !== r.quantity) return true;
      if (c.action === 'release') return r.status !== 'released' || r.consumed !== '0' || r.consumptions !== '0';
      return (
        r.status !== 'captured' ||
        r.consumptions !== '1' ||
        r.consumed !== r.captured ||
        r.applied !== r.captured ||
        r.captured !== (c.quantity ?? r.quantity)
      );
    }).length;
    const unasked = closedRows.filter((r) => !closingsAccepted.has(r.id)).length;
    const closingCounts = new Map<string, number>();
    for (const r of closedRows) count(closingCounts, r.status);
    prove(
      'every capture and release the API accepted happened exactly once',
      badClosings === 0 && unasked === 0 && closedRows.length === closingsAccepted.size,
      `${closingsAccepted.size} accepted; ${closedRows.length} closed holds (${[...closingCounts]
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}); not closed exactly as asked ${badClosings}; closed unasked ${unasked}`,
    );

    const after = await db.raw<{ rows: Array<{ id: string; created_at: Date; entries: string }> }>(
      'SELECT c.id, c.created_at, (SELECT count(*) FROM ledger_entries e WHERE ' +
        'e.consumption_id = c.id) AS entries FROM consumptions c WHERE c.id = ANY(?::uuid[])',
      [producerIds],
    );
    const afterById = new Map(after.rows.map((r) => [r.id, r]));
    const changed = before.rows.filter((b) => {
      const a = afterById.get(b.id);
      return !a || a.created_at.getTime() !== b.created_at.getTime() || asNumber(a.entries) !== asNumber(b.entries);
    }).length;
    const producerMissing = producerIds.filter((i) => !present.has(i)).length;
    prove(
      'a replay of the producer stream applies each of its consumptions exactly once',
      producerMissing === 0 && changed === 0,
      `${producerIds.length} sent; ${producerAppliedBefore} applied before the replay, ` +
        `${producerIds.length - producerAppliedBefore} lost when Redis lost its data (a direct ` +
        `producer's guarantee is Redis's durability); after the replay ` +
        `${producerIds.length - producerMissing} applied, ${changed} of the earlier ones changed`,
    );

    const negative = asNumber(
      ((await db('balances').where('remaining', '<', 0).count({ n: '*' })) as Array<{ n: unknown }>)[0]?.n,
    );
    prove('no balance is negative', negative === 0, `${negative} balances below zero`);

    const verified = await verifyInvariants(db);
    prove(
      'verifyInvariants reports no violation',
      verified.ok,
      `checked ${verified.checked.balances} balances, ${verified.checked.consumptions} ` +
        `consumptions, ${verified.checked.invoices} invoices; ${verified.violationCount} ` +
        `violations${verified.violations.length ? `: ${JSON.stringify(verified.violations.slice(0, 3))}` : ''}`,
    );

    const events = (await db('outbox_events').whereNot('type', 'like', 'command.%').select('id')) as Array<{
      id: string;
    }>;
    const deliveries = (await db('webhook_deliveries')
      .where({ endpoint_id: endpoint.id })
      .select('id', 'event_id', 'status', 'attempts')) as Array<{
      id: string;
      event_id: string;
      status: string;
      attempts: number;
    }>;
    const perEvent = new Map<string, number>();
    for (const d of deliveries) count(perEvent, d.event_id);
    const eventsWithoutOne = events.filter((e) => perEvent.get(e.id) !== 1).length;
    const notDelivered = deliveries.filter((d) => d.status !== 'delivered').length;
    const unseen = deliveries.filter((d) => !(receiver.deliveries.get(d.id)?.acknowledged ?? 0)).length;
    const deliveryIds = new Set(deliveries.map((d) => d.id));
    const unknownSeen = [...receiver.deliveries.keys()].filter((i) => !deliveryIds.has(i)).length;
    const wrongEvent = deliveries.filter((d) => {
      const seen = receiver.deliveries.get(d.id);
      return seen && seen.eventId !== d.event_id;
    }).length;
    prove(
      'every outbox event reached the endpoint exactly once by delivery id',
      events.length > 0 &&
        eventsWithoutOne === 0 &&
        notDelivered === 0 &&
        unseen === 0 &&
        unknownSeen === 0 &&
        wrongEvent === 0,
      `${events.length} events, ${deliveries.length} deliveries (events without exactly one: ` +
        `${eventsWithoutOne}); not delivered ${notDelivered}; delivered ids the receiver never acknowledged ` +
        `${unseen}; ids it saw that do not exist ${unknownSeen}; wrong event for its id ${wrongEvent}; ` +
        `repeats the receiver saw (allowed: at least once) ${receiver.duplicates}`,
    );
    prove(
      'every webhook request carried a valid signature over the event it names',
      receiver.badSignatures === 0 && receiver.mismatchedBodies === 0,
      `${receiver.requests} requests; bad signatures ${receiver.badSignatures}; ` +
        `body not matching its headers ${receiver.mismatchedBodies}`,
    );
    const answers500 = [...caller.stats.outcomes].filter(([k]) => k.startsWith('500')).reduce((s, [, v]) => s + v, 0);
    const givenUp = producerStats.get('given up') ?? 0;
    prove(
      'the API never answered 500, never refused a valid request otherwise than 503, never hung',
      answers500 === 0 && caller.stats.unexpected.length === 0 && caller.stats.hangs === 0 && givenUp === 0,
      `${caller.stats.attempts} HTTP attempts; producer calls given up ${givenUp}; 500s ${answers500}; ` +
        `other unexpected answers ${caller.stats.unexpected.length}` +
        `${caller.stats.unexpected.length ? ` (${caller.stats.unexpected.slice(0, 3).join(' | ')})` : ''}; ` +
        `no answer within 20 s ${caller.stats.hangs}; slowest ${(caller.stats.maxMs / 1000).toFixed(2)} s`,
    );
    prove(
      'no service process died except the one killed on purpose',
      crashes.length === 0,
      crashes.length ? crashes.join('; ') : `${processes.length} processes started, 1 killed with SIGKILL on purpose`,
    );
    // ---- the faults met work in flight, and no retry hid a deadlock
    const killed = live.killedTransaction;
    prove(
      'the killed worker had a batch transaction open, and the kill rolled it back',
      killed !== null && killed.statusAfterKill === 'aborted',
      killed
        ? `xid ${killed.xid} (${killed.ageMs} ms old) held row locks and waited for its ` +
            `frozen client when the SIGKILL came; Postgres reports it ${killed.statusAfterKill}`
        : `no transaction of the worker was caught open within ${options.killTimeoutMs} ms`,
    );
    prove(
      'Redis held a backlog of API requests and producer jobs when it lost its data',
      live.backlogAtWipe > 0 && live.backlogByOrigin.api > 0 && live.backlogByOrigin.producer > 0,
      `${live.backlogAtWipe} consumption jobs waiting or active at the wipe: ${live.backlogByOrigin.api} ` +
        `accepted through the API, ${live.backlogByOrigin.producer} from the producer`,
    );
    prove(
      'the relay enqueued again the accepted requests Redis lost',
      live.requeuedAfterWipe > 0,
      `${live.requeuedAfterWipe} accepted requests found missing from Redis and ` +
        `enqueued again after the wipe (the relays' "missing from Redis" log lines)`,
    );
    live.producerLostThenApplied = missingBeforeReplay.filter((i) => present.has(i)).length;
    prove(
      'the producer jobs Redis lost were missing until the replay applied them',
      live.producerLostThenApplied > 0 && live.producerLostThenApplied === missingBeforeReplay.length,
      `${missingBeforeReplay.length} producer consumptions had no row before ` +
        `the replay; ${live.producerLostThenApplied} of them applied by it`,
    );
    prove(
      'Postgres detected no deadlock',
      statsKept && live.deadlocks === 0,
      `pg_stat_database.deadlocks moved by ${live.deadlocks} during the run ` +
        '(read before the services started and after every one had ended); ' +
        (statsKept
          ? 'its statistics survived the Postgres restart'
          : `its statistics were reset by the Postgres restart (xact_commit ${statsBeforeRestart.xactCommit} ` +
            `before, ${statsAtEnd.xactCommit} at the end): the count proves nothing`),
    );
    for (const [what, result] of waits) if (!result.ok) prove(`settled: ${what}`, false, result.detail);

    // ---- counts
    const statuses = new Map<string, number>();
    for (const r of rows) count(statuses, r.status);
    const scalar = async (sql: string) => asNumber((await db.raw<{ rows: Array<{ n: unknown }> }>(sql)).rows[0]?.n);
    const attempts = deliveries.reduce((s, d) => s + d.attempts, 0);
    const requeued = processes.reduce((s, p) => s + p.requeued, 0);
    counts.push(
      ['operations in the stream', ops.length],
      ['  API single consumptions (requests)', opCounts.get('api') ?? 0],
      ['  API batches (requests)', opCounts.get('batch') ?? 0],
      ['  producer calls (consume / consumeEach)', opCounts.get('producer') ?? 0],
      ['  recharges (requests)', opCounts.get('recharge') ?? 0],
      ['  renewals (requests)', opCounts.get('renew') ?? 0],
      ['  holds (requests)', opCounts.get('hold') ?? 0],
      ['  captures and releases (requests)', opCounts.get('close') ?? 0],
      ['consumptions accepted by the API (single + batch items)', apiIds.length],
      ['holds accepted by the API', holdIds.length],
      ['captures and releases accepted by the API', closingsAccepted.size],
      ['consumptions sent by the producer', producerIds.length],
      ['HTTP attempts', caller.stats.attempts],
      ...[...caller.stats.outcomes].sort().map(([k, v]): [string, number] => [`  answered ${k}`, v]),
      [
        'producer calls retried after an error',
        [...producerStats].filter(([k]) => k.startsWith('error')).reduce((s, [, v]) => s + v, 0),
      ],
      ['consumptions in the database', rows.length],
      ...[...statuses].sort().map(([k, v]): [string, number] => [`  ${k}`, v]),
      ['producer consumptions applied before the replay', producerAppliedBefore],
      ['producer consumptions lost with Redis data (replayed)', producerIds.length - producerAppliedBefore],
      ['recharges (API)', rechargeRows.filter((r) => !r.auto).length],
      ['renewal periods', periodRows.length],
      ['ledger entries', await scalar('SELECT count(*) AS n FROM ledger_entries')],
      ['balances', await scalar('SELECT count(*) AS n FROM balances')],
      ['invoices', await scalar('SELECT count(*) AS n FROM invoices')],
      ['consumption jobs taken back after stalling (QueueEvents "stalled")', stalledEvents],
      ['accepted requests re-enqueued by the relay (Redis had lost them)', requeued],
      ['  of them after Redis lost its data', live.requeuedAfterWipe],
      ['consumption jobs in Redis when it lost its data', live.backlogAtWipe],
      ['producer consumptions lost with Redis data, then applied by the replay', live.producerLostThenApplied],
      ['deadlocks Postgres detected (pg_stat_database)', live.deadlocks ?? 'not measured'],
      ['exit codes of the processes stopped with SIGTERM at the end', exitCodes.join(', ')],
      ['outbox events (webhook)', events.length],
      ['webhook deliveries', deliveries.length],
      ['  delivery attempts recorded', attempts],
      ['  requests the receiver got', receiver.requests],
      ['  distinct delivery ids it saw', receiver.deliveries.size],
      ['  repeats it saw (at least once)', receiver.duplicates],
      ['  requests held while it was stalled', receiver.heldWhileStalled],
      ['service log lines at error level (503 answers aside)', processes.reduce((s, p) => s + p.errorLines, 0)],
      ['"unhandled error" log lines (500s)', processes.reduce((s, p) => s + p.unhandledErrors, 0)],
    );
  } catch (error) {
    note(`the run failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    throw error;
  } finally {
    await stopAll();
    running.delete(stopAll);
  }
  const ok = proofs.length > 0 && proofs.every((p) => p.ok);
  // a failed run keeps its data and logs: the report names them, and nobody can rerun CI's exact run
  const kept = options.keep || !ok;
  if (!kept) rmSync(dir, { recursive: true, force: true });
  return {
    id,
    seed: options.seed,
    ok,
    seconds: (Date.now() - startedAt) / 1000,
    dataDir: kept ? dir : '',
    faults,
    counts,
    live,
    proofs,
  };
}

/** The report as text: faults, counts, proofs. */
export function formatReport(report: ChaosReport): string {
  const lines: string[] = [];
  lines.push(
    '',
    `chaos ${report.id}: ${report.ok ? 'ALL PROOFS HOLD' : 'A PROOF FAILED'} in ` +
      `${report.seconds.toFixed(1)} s (seed ${report.seed}; replay its choices with --seed ${report.seed})`,
    '',
    'faults:',
  );
  for (const f of report.faults)
    lines.push(`  ${f.at.toFixed(1).padStart(6)}s–${f.until.toFixed(1).padStart(6)}s  ${f.name}: ${f.detail}`);
  lines.push('', 'counts:');
  const width = Math.max(...report.counts.map(([k]) => k.length));
  for (const [k, v] of report.counts) lines.push(`  ${k.padEnd(width)}  ${v}`);
  lines.push('', 'proofs:');
  for (const p of report.proofs) lines.push(`  ${p.ok ? 'ok  ' : 'FAIL'}  ${p.name}\n        ${p.detail}`);
  if (report.dataDir) lines.push('', `data and logs: ${report.dataDir}`);
  return lines.join('\n');
}
