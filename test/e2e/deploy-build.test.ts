import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort, REPO_ROOT } from '../../chaos/services.js';
import { createEmptyDatabase, type TestDatabase } from '../helpers/database.js';
import { removeTestQueueKeys } from '../helpers/queue-keys.js';

/** The queues' prefix of the service this file starts (its keys are removed afterwards). */
const PREFIX = `{deploy-${process.pid}}`;

/**
 * Issue 16, deploy: no Docker engine runs here, so this test does what the Dockerfile says, in its
 * order, in a fresh copy of the tree outside the repository (no node_modules of the checkout to
 * fall back on): each COPY copies those files (`.` = the tracked tree less .dockerignore), each RUN
 * runs, ENV is kept; then compose's `migrate` command, the CMD as the deploy starts it, and the
 * HEALTHCHECK command against it.
 */
type Step =
  | { kind: 'copy'; sources: string[] }
  | { kind: 'run'; command: string }
  | { kind: 'env'; values: Record<string, string> }
  | { kind: 'cmd'; argv: string[] }
  | { kind: 'healthcheck'; argv: string[] };

function dockerfileSteps(text: string): Step[] {
  const steps: Step[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [instruction, ...rest] = line.split(/\s+/);
    const args = line.slice(instruction!.length).trim();
    switch (instruction) {
      case 'COPY':
        steps.push({ kind: 'copy', sources: rest.slice(0, -1) });
        break;
      case 'RUN':
        steps.push({ kind: 'run', command: args });
        break;
      case 'ENV':
        steps.push({
          kind: 'env',
          values: Object.fromEntries(rest.map((pair) => pair.split('=') as [string, string])),
        });
        break;
      case 'CMD':
        steps.push({ kind: 'cmd', argv: JSON.parse(args) as string[] });
        break;
      case 'HEALTHCHECK':
        steps.push({ kind: 'healthcheck', argv: JSON.parse(args.slice(args.indexOf('CMD') + 3).trim()) as string[] });
        break;
      default:
      // FROM, WORKDIR, USER, EXPOSE: the image's frame, not steps
    }
  }
  return steps;
}

/** The files `COPY . .` brings: the tracked tree (and new files) less what .dockerignore names. */
function treeFiles(): string[] {
  const ignored = readFileSync(path.join(REPO_ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const matches = (file: string, pattern: string) =>
    pattern.startsWith('*.') ? file.endsWith(pattern.slice(1)) : file === pattern || file.startsWith(`${pattern}/`);
  return execFileSync('git', ['ls-files', '-co', '--exclude-standard'], { cwd: REPO_ROOT, encoding: 'utf8' })
    .split('\n')
    .filter((f) => f && existsSync(path.join(REPO_ROOT, f)) && !ignored.some((p) => matches(f, p)));
}

const copyInto = (target: string, files: readonly string[]) => {
  for (const file of files) {
    mkdirSync(path.dirname(path.join(target, file)), { recursive: true });
    copyFileSync(path.join(REPO_ROOT, file), path.join(target, file));
  }
};

const sh = (cwd: string, command: string, env: Record<string, string>) =>
  execFileSync('sh', ['-c', command], { cwd, env: { ...process.env, ...env }, encoding: 'utf8', stdio: 'pipe' });

describe('the Dockerfile, run step by step in a fresh copy of the tree', () => {
  let app: string;
  let database: TestDatabase;
  let env: Record<string, string> = {};
  let steps: Step[];
  beforeAll(async () => {
    database = await createEmptyDatabase();
    app = mkdtempSync(path.join(tmpdir(), 'credits-deploy-'));
    steps = dockerfileSteps(readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8'));
    for (const step of steps) {
      if (step.kind === 'copy') copyInto(app, step.sources.includes('.') ? treeFiles() : step.sources);
      else if (step.kind === 'run') sh(app, step.command, env);
      else if (step.kind === 'env') env = { ...env, ...step.values };
    }
  }, 240_000);
  afterAll(async () => {
    await removeTestQueueKeys(PREFIX);
    await database?.drop();
    if (app) rmSync(app, { recursive: true, force: true });
  });

  it('builds compiled code and keeps no dev tool in the image', () => {
    expect(steps.map((s) => s.kind)).toEqual([
      'copy',
      'copy',
      'run',
      'copy',
      'run',
      'run',
      'env',
      'healthcheck',
      'cmd',
    ]);
    expect(existsSync(path.join(app, 'dist', 'src', 'main.js'))).toBe(true);
    expect(existsSync(path.join(app, 'dist', 'src', 'migrate.js'))).toBe(true);
    // the producer package, built, and linked where the compiled service imports it from
    expect(existsSync(path.join(app, 'node_modules', '@credits', 'producer', 'dist', 'index.js'))).toBe(true);
    // (typescript itself stays: valibot, under Bull Board, names it an optional peer)
    for (const dev of ['tsx', 'vitest', '@biomejs/biome', 'autocannon', 'playwright-core'])
      expect(existsSync(path.join(app, 'node_modules', dev)), dev).toBe(false);
    for (const runtime of ['bullmq', 'express', 'pg', 'knex'])
      expect(existsSync(path.join(app, 'node_modules', runtime)), runtime).toBe(true);
    expect(env).toMatchObject({ NODE_ENV: 'production', MIGRATE: 'off' });
  });

  it("migrates as compose's migrate service does, starts the CMD, passes the HEALTHCHECK, stops cleanly", async () => {
    const compose = readFileSync(path.join(REPO_ROOT, 'compose.yaml'), 'utf8');
    expect(compose).toContain('command: ["node", "dist/src/migrate.js"]');
    const port = String(await freePort());
    const settings = {
      ...env,
      PORT: port,
      HOST: '127.0.0.1',
      DATABASE_URL: database.url,
      REDIS_URL: inject('redisUrl'),
      BULL_PREFIX: PREFIX,
    };
    sh(app, 'node dist/src/migrate.js', settings);

    const cmd = steps.find((s) => s.kind === 'cmd')!.argv;
    const child = spawn(cmd[0]!, cmd.slice(1), { cwd: app, env: { PATH: process.env.PATH ?? '', ...settings } });
    let log = '';
    const up = new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (c: Buffer) => {
        log += c.toString('utf8');
        if (log.includes('"msg":"credits is up"')) resolve();
      });
      child.stderr.on('data', (c: Buffer) => {
        log += c.toString('utf8');
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}:\n${log}`)));
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      await up;
      const check = steps.find((s) => s.kind === 'healthcheck')!.argv;
      // the health check exits 0 against the running process (it throws otherwise)
      execFileSync(check[0]!, check.slice(1), { cwd: app, env: { ...process.env, ...settings } });
      const health = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { version: string };
      expect(health.version).not.toBe('0.0.0');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited, log).toBe(0);
  }, 60_000);
});
