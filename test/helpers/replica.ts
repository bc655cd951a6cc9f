import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../../chaos/services.js';

/**
 * A primary and a streaming replica of the test's own (the machine's Postgres allows no replication
 * connection, and a test does not change its configuration): `initdb` into a temp folder, replication
 * allowed from loopback, `pg_stat_statements` loaded so that each server says which statements it
 * ran; then `pg_basebackup -R` of it into another folder, started as a hot standby. Debian's server
 * binaries (POSTGRES_BIN overrides the folder); run as the postgres user when the tests run as root.
 */
export interface PrimaryAndReplica {
  primaryUrl(database: string): string;
  replicaUrl(database: string): string;
  stop(): Promise<void>;
}

function postgresBin(): string {
  if (process.env.POSTGRES_BIN) return process.env.POSTGRES_BIN;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) if (existsSync(path.join(root, v, 'bin', 'initdb'))) return path.join(root, v, 'bin');
  throw new Error('the replica test needs the Postgres server binaries (Debian: postgresql); set POSTGRES_BIN');
}

export async function startPrimaryAndReplica(): Promise<PrimaryAndReplica> {
  const bin = postgresBin();
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  const dir = mkdtempSync(path.join(tmpdir(), 'credits-replica-'));
  chmodSync(dir, 0o755);
  if (root) {
    const ids = execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim();
    const gid = execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim();
    chownSync(dir, Number(ids), Number(gid));
  }
  const run = (tool: string, args: string[]) =>
    execFileSync(
      root ? 'runuser' : path.join(bin, tool),
      root ? ['-u', 'postgres', '--', path.join(bin, tool), ...args] : args,
      {
        stdio: 'pipe',
        encoding: 'utf8',
      },
    );
  const primaryDir = path.join(dir, 'primary');
  const replicaDir = path.join(dir, 'replica');
  const primaryPort = await freePort();
  const replicaPort = await freePort();

  run('initdb', ['-D', primaryDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  appendFileSync(
    path.join(primaryDir, 'postgresql.conf'),
    [
      '',
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${dir}'`,
      'wal_level = replica',
      'max_wal_senders = 4',
      'fsync = off',
      "shared_preload_libraries = 'pg_stat_statements'",
      'pg_stat_statements.track = all',
      '',
    ].join('\n'),
  );
  appendFileSync(path.join(primaryDir, 'pg_hba.conf'), '\nhost replication all 127.0.0.1/32 trust\n');
  run('pg_ctl', ['-D', primaryDir, '-o', `-p ${primaryPort}`, '-l', path.join(dir, 'primary.log'), '-w', 'start']);
  const started: string[] = [primaryDir];
  try {
    run('pg_basebackup', [
      '-h',
      '127.0.0.1',
      '-p',
      String(primaryPort),
      '-U',
      'postgres',
      '-D',
      replicaDir,
      '-R',
      '-X',
      'stream',
    ]);
    run('pg_ctl', ['-D', replicaDir, '-o', `-p ${replicaPort}`, '-l', path.join(dir, 'replica.log'), '-w', 'start']);
    started.push(replicaDir);
  } catch (error) {
    for (const d of started) run('pg_ctl', ['-D', d, '-m', 'immediate', 'stop']);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    primaryUrl: (database) => `postgres://postgres@127.0.0.1:${primaryPort}/${database}`,
    replicaUrl: (database) => `postgres://postgres@127.0.0.1:${replicaPort}/${database}`,
    stop: async () => {
      // every server is stopped whatever the one before threw (a replica already gone must not leave the primary up)
      const failures: unknown[] = [];
      for (const d of started.reverse()) {
        try {
          run('pg_ctl', ['-D', d, '-m', 'fast', '-w', 'stop']);
        } catch (error) {
          failures.push(error);
        }
      }
      rmSync(dir, { recursive: true, force: true });
      if (failures.length > 0) throw failures[0];
    },
  };
}
