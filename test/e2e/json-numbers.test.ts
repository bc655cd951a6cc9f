import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../../src/commands/index.js';
import { jobIdOf } from '../../src/jobs/definitions.js';
import { verifyInvariants } from '../../src/services/verify.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, snapshotCounts, subscribe } from '../helpers/fixtures.js';

/**
 * Issue 13, item 7 — DOMAIN.md "Quantities are never rounded, JSON numbers included". JSON.parse reads
 * every number as a double, so `999999999999.9999` arrived as `1000000000000` and was accepted. The
 * bodies below are sent as raw text: the numbers in them are exactly what a client wrote.
 */
let app: TestApp;
let milli: { code: string };
let fine: { code: string };
let client: { id: string; external_ref: string };
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-05-04T08:00:00.000Z' });
  milli = await createCreditType(app, { code: 'jn-milli', unit: 'litre', decimals: 3 });
  fine = await createCreditType(app, { code: 'jn-fine', unit: 'gram', decimals: 4 });
  client = await createClient(app);
  const pkg = await createPackage(app, [
    { credit_type: milli.code, units: '20000000000000' },
    { credit_type: fine.code, units: '50000000000000' },
  ]);
  await subscribe(app, client.id, pkg.code);
});
afterAll(async () => {
  const report = await verifyInvariants(app.database.db);
  expect(report.violations).toEqual([]);
  await app.close();
});

/** POST with the body exactly as written, numbers included (the catalog needs the admin key). */
const post = (path: string, raw: string) =>
  app.request('POST', path, { key: path.startsWith('/v1/packages') ? app.keys.admin : app.keys.write, raw });

describe('a JSON number a double cannot hold exactly is read from the text, never rounded', () => {
  // The issue's own example happens to survive a double (its shortest text is itself, 4 decimals), so
  // it was refused before too; the next two are what JSON.parse really rounds (to 10^13 and 10^12).
  it.each([
    ["the issue's example", '999999999999.9999'],
    ['a number JSON.parse makes 10000000000000', '9999999999999.9999'],
    ['a number JSON.parse makes 1000000000000', '999999999999.99999'],
  ])('%s: %s with 3 decimals is 422 naming quantity, and nothing is consumed', async (_, quantity) => {
    const before = await snapshotCounts(app, ['consumptions', 'ledger_entries', 'accepted_jobs']);
    const res = await post(
      '/v1/consumptions?wait=true',
      `{"client":"${client.external_ref}","credit_type":"${milli.code}",` +
        `"quantity":${quantity},"idempotency_key":"jn-1-${quantity.length}"}`,
    );
    expect(res.status, res.text).toBe(422);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.body.code).toBe('validation_failed');
    expect(res.body.errors).toEqual([{ field: 'quantity', message: 'allows at most 3 decimal places' }]);
    expect(await snapshotCounts(app, ['consumptions', 'ledger_entries', 'accepted_jobs'])).toEqual(before);
  });

  it('an exact long quantity given as a JSON number within range and precision is applied exactly', async () => {
    // 18 significant digits: as a double it would be 12345678901234.568
    const res = await post(
      '/v1/consumptions?wait=true',
      `{"client":"${client.external_ref}","credit_type":"${fine.code}",` +
        '"quantity":12345678901234.5678,"idempotency_key":"jn-2"}',
    );
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({
      status: 'applied',
      quantity: '12345678901234.5678',
      applied: '12345678901234.5678',
      remaining: '37654321098765.4322',
    });
    expect(res.body.allocations).toEqual([expect.objectContaining({ amount: '12345678901234.5678' })]);
    // the same use, sent again as a string, is the same request (no idempotency conflict)
    const again = await post(
      '/v1/consumptions?wait=true',
      `{"client":"${client.external_ref}","credit_type":"${fine.code}",` +
        '"quantity":"12345678901234.5678","idempotency_key":"jn-2"}',
    );
    expect(again.status, again.text).toBe(200);
    expect(again.body.id).toBe(res.body.id);
  });

  it('an exact number in exponent form is read as its plain decimal', async () => {
    const res = await post(
      '/v1/consumptions?wait=true',
      `{"client":"${client.external_ref}","credit_type":"${fine.code}","quantity":1.25e-2,"idempotency_key":"jn-3"}`,
    );
    expect(res.status, res.text).toBe(200);
    expect(res.body.quantity).toBe('0.0125');
  });

  it.each([
    ['a huge integer', '99999999999999999999'],
    ['an integer past 2^53', '9007199254740993'],
    ['a fraction JSON.parse rounds to 10^15', '999999999999999.99'],
  ])('money: %s for a price is 422 naming price, never rounded', async (_, price) => {
    const before = await snapshotCounts(app, ['packages']);
    const res = await post(
      '/v1/packages',
      `{"code":"jn-pack-${price.length}","name":"Big","price":${price},"currency":"USD",` +
        `"validity":{"count":1,"unit":"month"},"items":[{"credit_type":"${milli.code}","units":1}]}`,
    );
    expect(res.status, res.text).toBe(422);
    expect(res.body.code).toBe('validation_failed');
    expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual(['price']);
    expect(await snapshotCounts(app, ['packages'])).toEqual(before);
  });

  it('a field that wants a number refuses an inexact one with 422 (validity.count)', async () => {
    const res = await post(
      '/v1/packages',
      '{"code":"jn-count","name":"Count","price":100,"currency":"USD","validity":{"count":1.0000000000000001,' +
        `"unit":"month"},"items":[{"credit_type":"${milli.code}","units":1}]}`,
    );
    expect(res.status, res.text).toBe(422);
    expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual(['validity.count']);
  });

  it('a body too deep for the exact reading is refused with 422, not read rounded', async () => {
    const deep = `${'['.repeat(100_000)}12345678901234567${']'.repeat(100_000)}`;
    const res = await post('/v1/consumptions', deep);
    expect(res.status, res.text).toBe(422);
    expect(res.body.errors).toEqual([{ field: '(body)', message: expect.stringMatching(/nested too deeply/) }]);
  });

  it('free-form metadata keeps such a number as its exact decimal text', async () => {
    const res = await post(
      '/v1/consumptions?wait=true',
      `{"client":"${client.external_ref}","credit_type":"${milli.code}","quantity":1,` +
        '"idempotency_key":"jn-4","metadata":{"order":12345678901234567890,"n":7}}',
    );
    expect(res.status, res.text).toBe(200);
    const stored = await app.request('GET', `/v1/consumptions/${res.body.id}`, { key: app.keys.read });
    expect(stored.body.metadata).toEqual({ order: '12345678901234567890', n: 7 });
  });
});

describe('the plain reading of a JSON body answers as express.json does (json-body.ts plainJson)', () => {
  // application/json alone is read by plainJson; with one more parameter the same body goes through
  // express.json: each body below must get the same answer both ways
  const send = (body: string | Buffer, contentType: string) =>
    fetch(`${app.baseUrl}/v1/consumptions/quote`, {
      method: 'POST',
      headers: { authorization: `Bearer ${app.keys.read}`, 'content-type': contentType },
      body,
    });
  const use = () => ({ client: client.external_ref, credit_type: milli.code, quantity: 1 });
  // bodies made when the test runs: the client exists by then
  it.each<[string, () => string | Buffer]>([
    ['a use', () => JSON.stringify(use())],
    [
      'a use after a byte order mark',
      () => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(use()))]),
    ],
    ['not JSON', () => '{"client":'],
    ['a JSON string', () => '"a use"'],
    ['an empty object', () => '{}'],
    ['Arabic text', () => JSON.stringify({ ...use(), client: 'عميل' })],
    ['a long number', () => JSON.stringify(use()).replace('"quantity":1', '"quantity":12345678901234567')],
    ['a duplicate key', () => JSON.stringify(use()).replace('{', '{"quantity":5,')],
  ])('%s', async (_, body) => {
    const plain = await send(body(), 'application/json');
    const parsed = await send(body(), 'application/json; charset=utf-8; profile=x');
    const read = async (res: Response) => ({ status: res.status, body: (await res.json()) as Record<string, unknown> });
    const [a, b] = [await read(plain), await read(parsed)];
    expect(a.status).toBe(b.status);
    if (a.status === 200) expect(a.body.allocations).toEqual(b.body.allocations);
    else expect([a.body.code, a.body.errors]).toEqual([b.body.code, b.body.errors]);
  });
});

describe('jobs pushed straight into BullMQ carry JSON too', () => {
  it(
    'a consume job whose quantity no double holds exactly ' + 'fails at once with validation_failed naming quantity',
    async () => {
      // what a producer's JSON.stringify writes for 12345678901234.5678 read as a double
      const data = {
        client: client.external_ref,
        credit_type: fine.code,
        quantity: 12345678901234.568,
        idempotency_key: 'jn-direct-1',
      };
      const jobId = jobIdOf('consume', data);
      await app.ctx.queues.consumption.add('consume', data, { jobId });
      const outcome = await awaitOutcome(app.ctx, 'consume', jobId, { timeoutMs: 20_000 });
      expect(outcome.state).toBe('failed');
      if (outcome.state !== 'failed') return;
      expect(outcome.failure.code).toBe('validation_failed');
      expect(outcome.failure.detail).toMatch(/^quantity: has more than 15 significant digits/);
      expect(await app.database.db('consumptions').where({ idempotency_key: 'jn-direct-1' })).toEqual([]);
    },
  );

  it('the same quantity sent as a string is applied exactly', async () => {
    const data = {
      client: client.external_ref,
      credit_type: fine.code,
      quantity: '12345678901234.5678',
      idempotency_key: 'jn-direct-2',
    };
    const jobId = jobIdOf('consume', data);
    await app.ctx.queues.consumption.add('consume', data, { jobId });
    const outcome = await awaitOutcome(app.ctx, 'consume', jobId, { timeoutMs: 20_000 });
    expect(outcome.state, JSON.stringify(outcome)).toBe('completed');
    if (outcome.state === 'completed') expect(outcome.value.quantity).toBe('12345678901234.5678');
  });
});
