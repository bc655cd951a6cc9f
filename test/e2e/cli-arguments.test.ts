import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { runCli } from '../helpers/cli.js';

/**
 * The CLI's arguments as an operator mistypes them: a usage error exits 2 with the reason on stderr and changes
 * nothing — never exit 1 (a script reads that as "the nightly or verify found a problem"), never a default taken in
 * place of a value given empty, and never a key the API itself would refuse to make (POST /v1/api-keys's rules).
 */
let app: TestApp;
beforeAll(async () => {
  // its workers run the jobs of a `run-nightly --no-workers`
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-03-01T00:00:00.000Z' });
});
afterAll(async () => {
  await app.close();
});

const cli = (...args: string[]) => runCli(app, ...args);
const keyCount = async () => Number((await app.database.db('api_keys').count({ n: '*' }).first())?.n);

// each case is a CLI process of its own: a second or so alone, many more beside the whole suite (as cli.test.ts)
const PROCESSES = { timeout: 120_000 };

describe('cli keys create refuses what POST /v1/api-keys refuses', () => {
  it('an empty or over-long name, or a scope given twice: exit 2, no key made', PROCESSES, async () => {
    const before = await keyCount();
    for (const args of [
      ['--scope', 'read', '--name', ''],
      ['--scope', 'read', '--name', '   '],
      ['--scope', 'read', '--name', 'x'.repeat(201)],
      ['--scope', 'read', '--scope', 'read'],
      ['--scope', 'admin,admin'],
    ]) {
      const made = await cli('keys', 'create', ...args);
      expect(made.code, `${args.join(' ')}: ${made.stdout}${made.stderr}`).toBe(2);
      expect(made.stdout, args.join(' ')).not.toMatch(/crd_/);
    }
    expect(await keyCount()).toBe(before);
    // a name is stored as the API stores it: trimmed
    const made = await cli('keys', 'create', '--scope', 'read', '--name', '  reporting  ');
    expect(made.code, made.stderr).toBe(0);
    expect(await app.database.db('api_keys').where({ name: 'reporting' })).toHaveLength(1);
  });
});

describe('a usage error exits 2', () => {
  it('an unknown option, a missing value, or an argument where none is taken', PROCESSES, async () => {
    for (const args of [
      ['keys', 'create', '--scopes', 'admin'],
      ['keys', 'create', '--scope'],
      ['run-nightly', '--asof', '2026-03-01'],
      ['run-nightly', '--as-of'],
      ['run-nightly', '2026-03-01'],
    ]) {
      const run = await cli(...args);
      expect(run.code, `${args.join(' ')}: ${run.stdout}${run.stderr}`).toBe(2);
      expect(run.stdout, args.join(' ')).toBe('');
    }
  });

  it('run-nightly --as-of= (empty) is refused, not run as of now', PROCESSES, async () => {
    const run = await cli('run-nightly', '--as-of=', '--no-workers');
    expect(run.code, run.stdout + run.stderr).toBe(2);
    expect(run.stderr).toContain('--as-of must be');
    expect(run.stdout).toBe('');
  });
});

describe('run-nightly --no-workers', () => {
  it(
    "waits for the service's workers instead of failing at once on a connection still opening",
    PROCESSES,
    async () => {
      const run = await cli('run-nightly', '--as-of', '2026-03-01', '--no-workers');
      expect(run.code, run.stdout + run.stderr).toBe(0);
      const report = JSON.parse(run.stdout) as { as_of: string; verify: { ok: boolean } };
      expect(report.as_of).toBe('2026-03-01T00:00:00.000Z');
      expect(report.verify.ok).toBe(true);
    },
  );
});
