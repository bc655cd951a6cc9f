import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort, REPO_ROOT } from '../../chaos/services.js';
import { buildWhenStale, filesUnder } from '../helpers/build.js';
import { createEmptyDatabase, type TestDatabase } from '../helpers/database.js';
import { removeTestQueueKeys } from '../helpers/queue-keys.js';

/**
 * Issue 16, production start: `npm run build`, then `npm run migrate` and `npm run start:prod`
 * (`node dist/...`, no tsx), as a deploy runs them. NODE_ENV=production refuses the developer's
 * fallbacks with one line each, MIGRATE=off refuses a schema behind its code, and the compiled
 * code imports no devDependency (a production install leaves them out).
 */
interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
  devDependencies: Record<string, string>;
};

/** `npm run <script>` with only the given settings beyond PATH and HOME (nothing of the test runner's). */
function npmRun(script: string, env: Record<string, string>, timeoutMs = 60_000): Promise<Exit> {
  return new Promise((resolve) => {
    const child = spawn('npm', ['run', '-s', script], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString('utf8');
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString('utf8');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A started service's output as it comes: `up` once it says so (rejected if it exits first), and how it exited. */
function watchStart(child: ChildProcess) {
  let log = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const up = new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (c: Buffer) => {
      log += c.toString('utf8');
      if (log.includes('"msg":"credits is up"')) resolve();
    });
    child.stderr?.on('data', (c: Buffer) => {
      log += c.toString('utf8');
    });
    void exited.then((code) => reject(new Error(`exited ${code} before it was up:\n${log}`)));
  });
  return { up, exited, log: () => log };
}

describe('production start (compiled, NODE_ENV=production)', () => {
  let database: TestDatabase;
  const prefix = `{prod-${process.pid}}`;
  beforeAll(async () => {
    database = await createEmptyDatabase();
    // the deploy's build step, exactly as package.json says it — unless the checkout's build is newer than every
    // source it compiles: `npm ci` / `npm install` has just made it (the `prepare` script: CI's case), or the global
    // set-up has (test/helpers/build.ts). The build step itself is checked in a fresh copy by deploy-build.test.ts
    await buildWhenStale();
  }, 300_000);
  afterAll(async () => {
    await removeTestQueueKeys(prefix);
    await database?.drop();
  });

  it('start:prod and migrate run compiled JavaScript that imports no devDependency', () => {
    // exec: the shell npm runs it in gives way to node, so npm's SIGTERM reaches the service (below)
    expect(pkg.scripts['start:prod']).toBe('exec node dist/src/main.js');
    expect(pkg.scripts.migrate).toBe('node dist/src/migrate.js');
    expect(Object.keys(pkg.devDependencies)).toContain('tsx');
    const imported = new Set<string>();
    for (const file of filesUnder(path.join(REPO_ROOT, 'dist', 'src')).filter((f) => f.endsWith('.js'))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*)['"]([^'".][^'"]*)['"]/g)) {
        const name = m[1]!.startsWith('@') ? m[1]!.split('/').slice(0, 2).join('/') : m[1]!.split('/')[0]!;
        imported.add(name);
      }
    }
    expect([...imported].filter((name) => name in pkg.devDependencies)).toEqual([]);
  });

  it('refuses, one line each, to start without DATABASE_URL and REDIS_URL or with CLOCK=manual', async () => {
    const out = await npmRun('start:prod', { NODE_ENV: 'production', CLOCK: 'manual' });
    expect(out.code).toBe(2);
    const lines = out.stderr.trim().split('\n');
    expect(lines).toEqual([
      'refusing to start: NODE_ENV=production needs DATABASE_URL: it never starts an embedded Postgres of its own',
      'refusing to start: NODE_ENV=production needs REDIS_URL: it never spawns a redis-server of its own',
      'refusing to start: NODE_ENV=production refuses CLOCK=manual: an admin key could move the time money depends on',
    ]);
    // nothing was started: no data folder of an embedded Postgres or a spawned redis-server is named
    expect(out.stdout).not.toMatch(/embedded|redis-server/);
  });

  it('MIGRATE=off refuses a schema behind its code; npm run migrate brings it; then every role serves', async () => {
    const port = await freePort();
    const env = {
      NODE_ENV: 'production',
      MIGRATE: 'off',
      DATABASE_URL: database.url,
      REDIS_URL: inject('redisUrl'),
      BULL_PREFIX: prefix,
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'info',
    };
    const behind = await npmRun('start:prod', env);
    expect(behind.code, behind.stderr).toBe(3);
    expect(behind.stderr).toMatch(/^refusing to start: MIGRATE=off and the database lacks \d+ migration\(s\)/);
    expect(behind.stderr).toContain('run `npm run migrate` first');

    const migrated = await npmRun('migrate', { NODE_ENV: 'production', DATABASE_URL: database.url });
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(migrated.stdout).toContain('"msg":"migrated"');
    const again = await npmRun('migrate', { NODE_ENV: 'production', DATABASE_URL: database.url });
    expect(again.stdout).toContain('the schema was already current');
    // a configuration refused: exit 2 as the service's start, one line naming it
    const refused = await npmRun('migrate', { NODE_ENV: 'production', DATABASE_URL: database.url, PGBOUNCER: 'true' });
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toContain('DATABASE_DIRECT_URL');

    // the compiled service, started as a deploy starts it (node, not npm: the signal reaches it)
    const child = spawn(process.execPath, ['dist/src/main.js'], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const watched = watchStart(child);
    const { exited } = watched;
    try {
      await watched.up;
      const base = `http://127.0.0.1:${port}`;
      const ready = await fetch(`${base}/readyz`);
      expect(ready.status, watched.log()).toBe(200);
      const health = (await (await fetch(`${base}/healthz`)).json()) as { version?: string };
      // the compiled code finds package.json two folders up, not a fallback version
      expect(health.version).toBe(
        (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version,
      );
      expect(watched.log()).not.toContain('migrations applied');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited, watched.log()).toBe(0);
  }, 120_000);

  /** Started as `npm run <script>`, signalled as a supervisor signals the command it started (npm): drains, exits 0. */
  async function drainsOnSigterm(script: string, env: Record<string, string>) {
    const port = await freePort();
    const child = spawn('npm', ['run', '-s', script], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        DATABASE_URL: database.url,
        REDIS_URL: inject('redisUrl'),
        BULL_PREFIX: prefix,
        ROLES: 'worker',
        HOST: '127.0.0.1',
        PORT: String(port),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const { up, exited, log } = watchStart(child);
    await up;
    const servicePid = Number(/"pid":(\d+).*"msg":"credits is up"/.exec(log())?.[1]);
    try {
      child.kill('SIGTERM');
      expect(await exited, log()).toBe(0);
      expect(log()).toContain('"msg":"stopped"');
    } finally {
      // a service the signal never reached would run on, orphaned: never left behind by the test
      try {
        process.kill(servicePid, 'SIGKILL');
      } catch {
        // gone, as it should be
      }
    }
  }

  it('npm run start:prod hands SIGTERM to the service: it drains, and npm exits 0', async () => {
    const migrated = await npmRun('migrate', { NODE_ENV: 'production', DATABASE_URL: database.url });
    expect(migrated.code, migrated.stderr).toBe(0);
    await drainsOnSigterm('start:prod', { NODE_ENV: 'production', MIGRATE: 'off' });
  }, 120_000);

  it("npm start (README's first command) hands SIGTERM to the service as well", async () => {
    await drainsOnSigterm('start', {});
  }, 120_000);
});
