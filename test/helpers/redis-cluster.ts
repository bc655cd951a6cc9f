import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../../chaos/services.js';

/**
 * A Redis Cluster of the test's own on loopback: three masters and a replica each, made with
 * `redis-server --cluster-enabled yes` and `redis-cli --cluster create`; a short node timeout so a
 * killed master's replica takes over within a few seconds.
 */
export interface RedisCluster {
  nodes: Array<{ host: string; port: number }>;
  /** `host:port,…` as REDIS_CLUSTER_NODES takes it. */
  nodesSetting: string;
  /** The port of the master that serves `key`'s slot now. */
  masterOf(key: string): Promise<number>;
  /** SIGKILL to the node on `port` (its replica is promoted after the node timeout). */
  kill(port: number): Promise<void>;
  /** Resolves once the cluster serves `key`'s slot from a master other than `port`. */
  failedOver(key: string, port: number, timeoutMs: number): Promise<number>;
  stop(): Promise<void>;
}

const ask = async <T>(port: number, work: (r: Redis) => Promise<T>): Promise<T> => {
  const r = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  r.on('error', () => {});
  try {
    await r.connect();
    return await work(r);
  } finally {
    r.disconnect();
  }
};

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startRedisCluster(): Promise<RedisCluster> {
  const dir = mkdtempSync(path.join(tmpdir(), 'credits-cluster-'));
  const ports: number[] = [];
  const children = new Map<number, ChildProcess>();
  for (let i = 0; i < 6; i += 1) {
    const port = await freePort();
    ports.push(port);
    const nodeDir = path.join(dir, String(port));
    mkdirSync(nodeDir);
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        nodeDir,
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        'nodes.conf',
        '--cluster-node-timeout',
        '1000',
        '--appendonly',
        'yes',
        '--save',
        '',
        '--maxmemory-policy',
        'noeviction',
      ],
      { stdio: 'ignore' },
    );
    children.set(port, child);
  }
  for (const port of ports) {
    for (let i = 0; ; i += 1) {
      const up = await ask(port, (r) => r.ping()).then(
        () => true,
        () => false,
      );
      if (up) break;
      if (i > 200) throw new Error(`redis-server on ${port} did not start`);
      await pause(25);
    }
  }
  execFileSync(
    'redis-cli',
    ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes'],
    {
      stdio: 'pipe',
    },
  );
  // every node agrees the cluster is up (slots assigned, the replicas attached)
  for (const port of ports) {
    for (let i = 0; ; i += 1) {
      const info = await ask(port, (r) => r.cluster('INFO')).catch(() => '');
      if (String(info).includes('cluster_state:ok')) break;
      if (i > 400) throw new Error(`the cluster did not come up on ${port}: ${String(info)}`);
      await pause(25);
    }
  }

  // and every replica has its master's data (a replica that never synced cannot be elected)
  for (const port of ports) {
    for (let i = 0; ; i += 1) {
      const info = String(await ask(port, (r) => r.info('replication')).catch(() => ''));
      if (info.includes('role:master') || info.includes('master_link_status:up')) break;
      if (i > 400) throw new Error(`the replica on ${port} did not sync: ${info}`);
      await pause(25);
    }
  }

  const masterOf = async (key: string, avoid?: number): Promise<number> => {
    for (const port of ports) {
      if (port === avoid || children.get(port)?.exitCode !== null) continue;
      const found = await ask(port, async (r) => {
        const slot = Number(await r.cluster('KEYSLOT', key));
        const slots = (await r.cluster('SLOTS')) as unknown as Array<[number, number, [string, number, ...unknown[]]]>;
        const range = slots.find(([from, to]) => slot >= from && slot <= to);
        return range ? range[2][1] : undefined;
      }).catch(() => undefined);
      if (found !== undefined) return found;
    }
    throw new Error(`no node answers which master serves ${key}`);
  };

  return {
    nodes: ports.map((port) => ({ host: '127.0.0.1', port })),
    nodesSetting: ports
      .slice(0, 3)
      .map((p) => `127.0.0.1:${p}`)
      .join(','),
    masterOf: (key) => masterOf(key),
    kill: async (port) => {
      const child = children.get(port)!;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    },
    failedOver: async (key, port, timeoutMs) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const now = await masterOf(key, port).catch(() => port);
        if (now !== port) {
          const ok = await ask(now, (r) => r.cluster('INFO')).catch(() => '');
          if (String(ok).includes('cluster_state:ok')) return now;
        }
        if (Date.now() > deadline) throw new Error(`no failover from ${port} within ${timeoutMs} ms`);
        await pause(50);
      }
    },
    stop: async () => {
      await Promise.all(
        [...children.values()].map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              child.once('exit', () => resolve());
              child.kill('SIGKILL');
            }),
        ),
      );
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
