import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../chaos/services.js';

/**
 * `npm start` on a machine with neither Postgres nor Redis starts an embedded Postgres and a redis-server, each in a
 * process group of its own (test/e2e/service-process-groups.test.ts), so that only the service stops them. A start
 * that failed after that (its PORT taken, HOST not an address of the machine) exited 1 and left the redis-server
 * running — the next start found it on 6379 and used it as one it had not started, never to stop it — and a
 * SIGTERM or Ctrl-C while it started (initdb, migrations) killed the process at once, leaving both servers behind.
 * Now a failed start stops what it started, and a signal while starting stops it once the step under way ends.
 *
 * The machine here runs Postgres on 5432 and Redis on 6379, which the service would find: each run is in a network
 * namespace of its own (`unshare -n`, as root), where nothing answers.
 */
const dataDir = mkdtempSync(path.join(tmpdir(), 'credits-start-'));
// as .data is: Postgres, run as its own user when the tests run as root, must reach its directory
chmodSync(dataDir, 0o755);

/** The processes working in the data directory: the Postgres and redis-server the service started (their cwd). */
function serversLeft(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/cwd`).startsWith(dataDir)) pids.push(Number(entry));
    } catch {
      // gone, a zombie, or not ours to read
    }
  }
  return pids;
}

afterAll(() => {
  // what a failing run left behind: each server leads a process group of its own
  for (const pid of serversLeft()) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // not a group leader (a Postgres backend): its postmaster's group takes it
    }
  }
  rmSync(dataDir, { recursive: true, force: true });
});

/** The service from its sources, as `npm start` runs it, alone in a network namespace. */
function startAlone(env: Record<string, string>) {
  const child = spawn(
    'unshare',
    ['-n', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh', process.execPath, '--import', 'tsx', 'src/main.ts'],
    {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', DATA_DIR: dataDir, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  const watchers: Array<{ text: string; resolve: () => void }> = [];
  const read = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    for (const watcher of watchers.filter((w) => output.includes(w.text))) {
      watchers.splice(watchers.indexOf(watcher), 1);
      watcher.resolve();
    }
  };
  child.stdout.on('data', read);
  child.stderr.on('data', read);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    exited,
    output: () => output,
    /** Resolves once the output holds `text`. */
    saw: (text: string) =>
      new Promise<void>((resolve) => {
        watchers.push({ text, resolve });
        read(Buffer.alloc(0));
      }),
  };
}

describe('the Postgres and redis-server a start made do not outlive it', () => {
  it('a start refused after them (HOST not an address here) stops them and exits 1', { timeout: 180_000 }, async () => {
    const service = startAlone({ LOG_LEVEL: 'info', HOST: '192.0.2.1', PORT: '3000' });
    const exit = await service.exited;
    expect(exit, service.output()).toEqual({ code: 1, signal: null });
    expect(service.output()).toContain('starting an embedded Postgres');
    expect(service.output()).toContain('starting redis-server');
    expect(service.output()).toContain('refusing to start: 192.0.2.1:3000 (HOST, PORT) cannot be listened on');
    expect(serversLeft(), service.output()).toEqual([]);
  });

  it('a SIGTERM while it starts stops them once the step under way ends, and exits 0', {
    timeout: 180_000,
  }, async () => {
    const service = startAlone({ LOG_LEVEL: 'info', HOST: '127.0.0.1', PORT: '3000' });
    // the embedded Postgres answers; the redis-server is being started
    await service.saw('starting redis-server');
    service.child.kill('SIGTERM');
    const exit = await service.exited;
    expect(exit, service.output()).toEqual({ code: 0, signal: null });
    expect(service.output()).toContain('signal while starting');
    expect(service.output()).toContain('stopped before the roles started');
    expect(service.output()).not.toContain('credits is up');
    expect(serversLeft(), service.output()).toEqual([]);
  });
});
