import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { runCli, runCliFromSources } from '../helpers/cli.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';

/**
 * The CLI as an operator runs it: a process of its own, on the test's database and queues — compiled, as the image
 * runs it (runCli), and once through `npm run cli -- …` (tsx, from the sources) as README's walkthrough does.
 */
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ roles: ['api'], now: '2026-03-01T00:00:00.000Z' });
});
afterAll(async () => {
  await app.close();
});

const cli = (...args: string[]) => runCli(app, ...args);

describe('cli keys', () => {
  it('create prints a new key once, on its last line, with the scopes asked for; a bad scope exits 2', async () => {
    const created = await cli('keys', 'create', '--scope', 'read', '--name', 'reporting');
    expect(created.code, created.stderr).toBe(0);
    const key = created.stdout.trim().split('\n').at(-1)!;
    expect(key).toMatch(/^crd_[\w-]{30,}$/);
    // stored hashed: the key itself is nowhere in the table
    const stored = await app.database.db('api_keys').where({ name: 'reporting' }).first();
    expect(JSON.stringify(stored)).not.toContain(key);
    expect((await app.request('GET', '/v1/clients', { key })).status).toBe(200);
    expect((await app.request('POST', '/v1/clients', { key, body: { external_ref: 'k', name: 'k' } })).status).toBe(
      403,
    );

    const bad = await cli('keys', 'create', '--scope', 'root');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--scope must be one of');
  });

  it('`npm run cli -- keys list` (tsx, from the sources) lists them, never the keys themselves', async () => {
    const { code, stdout, stderr } = await runCliFromSources(app, 'keys', 'list');
    expect(code, stderr).toBe(0);
    expect(stdout).toContain('reporting');
    expect(stdout).not.toMatch(/crd_[\w-]{30,}/);
  });
});

describe('cli run-nightly --as-of', () => {
  // two CLI processes with their own workers: seconds alone, much more beside the whole suite
  it('runs the nightly sweep for that day with its own ' + 'workers, exits 0, and does nothing twice when run again', {
    timeout: 120_000,
  }, async () => {
    const sms = await createCreditType(app, { code: 'cli-sms' });
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }], { auto_renew: true });
    const sub = await subscribe(app, (await createClient(app)).id, pkg.code);
    expect(sub.current_period_end).toBe('2026-04-01T00:00:00.000Z');

    const run = await cli('run-nightly', '--as-of', '2026-03-31');
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as {
      as_of: string;
      phases: Array<{ phase: string; jobs: number; completed: number }>;
      verify: { ok: boolean };
    };
    expect(report.as_of).toBe('2026-03-31T00:00:00.000Z'); // midnight in BUSINESS_TZ
    expect(report.phases.find((p) => p.phase === 'renewals')).toMatchObject({ jobs: 1, completed: 1 });
    expect(report.verify.ok).toBe(true);
    expect(await app.database.db('subscription_periods').where({ subscription_id: sub.id })).toHaveLength(2);

    const again = await cli('run-nightly', '--as-of', '2026-03-31');
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(await app.database.db('subscription_periods').where({ subscription_id: sub.id })).toHaveLength(2);
    expect(await app.database.db('invoices').where({ subscription_id: sub.id })).toHaveLength(2);

    const bad = await cli('run-nightly', '--as-of', 'next tuesday');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--as-of must be');
  });
});
