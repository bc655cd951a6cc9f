import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../chaos/services.js';
import { startEmbeddedPostgres, startRedisServer } from '../../src/infra/services.js';

/**
 * `npm start` on a machine without Postgres or Redis starts them itself (src/infra/services.ts). A Ctrl-C in the
 * terminal signals the whole foreground process group; Postgres takes SIGINT as a fast shutdown and Redis as a
 * shutdown, so servers in the service's group stopped under its drain, and the jobs in flight lost their database.
 * Each runs in a process group of its own, stopped by the service itself, last.
 */
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
const scratch = () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'credits-groups-'));
  // as .data is: Postgres, run as its own user when the tests run as root, must reach its directory
  chmodSync(dir, 0o755);
  dirs.push(dir);
  return dir;
};
/** A process's group (the fifth field of /proc/<pid>/stat, after the command's parenthesis). */
const groupOf = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[2]);
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('the servers the service starts run in process groups of their own', () => {
  it('redis-server: not in the test process group; stopped by its handle', async () => {
    const redis = await startRedisServer({ port: await freePort(), dataDir: scratch() });
    try {
      expect(redis.pid).toBeGreaterThan(0);
      expect(groupOf(redis.pid!)).toBe(redis.pid);
      expect(groupOf(redis.pid!)).not.toBe(groupOf(process.pid));
    } finally {
      await redis.stop();
    }
    expect(alive(redis.pid!)).toBe(false);
  });

  it('the embedded Postgres: not in the test process group; answers; stopped by its handle', async () => {
    const port = await freePort();
    const postgres = await startEmbeddedPostgres({ port, dataDir: scratch(), log: { info: () => {}, warn: () => {} } });
    try {
      expect(postgres.pid).toBeGreaterThan(0);
      expect(groupOf(postgres.pid!)).not.toBe(groupOf(process.pid));
      const client = new pg.Client({ connectionString: postgres.serverUrl });
      await client.connect();
      try {
        expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      } finally {
        await client.end();
      }
    } finally {
      await postgres.stop();
    }
    expect(alive(postgres.pid!)).toBe(false);
  }, 60_000);
});
