import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../../chaos/services.js';

/** Debian's pgbouncer; PGBOUNCER_PATH overrides it. */
export const PGBOUNCER_PATH = process.env.PGBOUNCER_PATH ?? '/usr/sbin/pgbouncer';

/**
 * Makes sure pgbouncer is there: installs the Debian package when it is missing and this process
 * may (root, apt-get present); otherwise stops with what to do.
 */
export function ensurePgbouncer(): string {
  if (existsSync(PGBOUNCER_PATH)) return PGBOUNCER_PATH;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  const apt = existsSync('/usr/bin/apt-get');
  if (!root || !apt)
    throw new Error(
      `The PgBouncer test needs pgbouncer at ${PGBOUNCER_PATH}. Install it ("sudo apt-get install -y pgbouncer") ` +
        'or point PGBOUNCER_PATH at it, then run the tests again.',
    );
  const install = () => spawnSync('apt-get', ['install', '-y', 'pgbouncer'], { stdio: 'ignore' }).status === 0;
  if (!install()) {
    spawnSync('apt-get', ['update'], { stdio: 'ignore' });
    install();
  }
  if (!existsSync(PGBOUNCER_PATH)) throw new Error(`"apt-get install -y pgbouncer" did not provide ${PGBOUNCER_PATH}`);
  return PGBOUNCER_PATH;
}

export interface Pgbouncer {
  /** The pooled URL of `database` (transaction pooling). */
  url: string;
  /** The admin console (SHOW STATS, SHOW POOLS). */
  adminUrl: string;
  stop(): Promise<void>;
}

const answers = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

/** A pgbouncer of the test's own, in transaction pooling, in front of `database` on the test Postgres. */
export async function startPgbouncer(target: { host: string; port: number; database: string }): Promise<Pgbouncer> {
  const binary = ensurePgbouncer();
  const dir = mkdtempSync(path.join(tmpdir(), 'credits-pgbouncer-'));
  chmodSync(dir, 0o755);
  const port = await freePort();
  writeFileSync(path.join(dir, 'userlist.txt'), '"postgres" ""\n');
  writeFileSync(
    path.join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `${target.database} = host=${target.host} port=${target.port} dbname=${target.database} user=postgres`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${path.join(dir, 'userlist.txt')}`,
      'admin_users = postgres',
      'pool_mode = transaction',
      'max_client_conn = 500',
      'default_pool_size = 8',
      'ignore_startup_parameters = extra_float_digits',
      '',
    ].join('\n'),
  );
  // pgbouncer will not run as root: then it drops to the postgres user
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  const child: ChildProcess = spawn(binary, [...(root ? ['-u', 'postgres'] : []), path.join(dir, 'pgbouncer.ini')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => {
    output += c.toString('utf8');
  });
  child.stderr?.on('data', (c: Buffer) => {
    output += c.toString('utf8');
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let i = 0; !(await answers(port)); i += 1) {
    if (child.exitCode !== null || i > 200) throw new Error(`pgbouncer did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/${target.database}`,
    adminUrl: `postgres://postgres@127.0.0.1:${port}/pgbouncer`,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
