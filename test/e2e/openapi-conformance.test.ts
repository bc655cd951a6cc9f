import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { awaitOutcome } from '../../src/commands/index.js';
import { createApiKey } from '../../src/http/auth.js';
import { type RequestOptions, startTestApp, type TestApp, type TestResponse } from '../helpers/app.js';
import { Receiver } from '../helpers/receiver.js';

/**
 * Issue 13, item 11: /openapi.json and the answers agree, for every route. Each request below is a
 * representative one (the success and the main failures of each route of the table); each answer is
 * checked against the document the running service serves, as a validating proxy would: its status
 * is declared for the operation, its content type is declared for that status, and its body
 * validates against that schema (JSON Schema 2020-12, the dialect of OpenAPI 3.1, with formats).
 */
const DOC = 'openapi.json';

/** One JSON pointer segment, escaped (RFC 6901) and fit for a URI fragment. */
const segment = (text: string) => encodeURIComponent(text.replace(/~/g, '~0').replace(/\//g, '~1'));

class Conformance {
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true });
  private readonly validators = new Map<string, ValidateFunction>();
  /** `METHOD path` → the statuses seen. */
  readonly seen = new Map<string, Set<number>>();

  constructor(readonly doc: { paths: Record<string, Record<string, { responses: Record<string, any> }>> }) {
    formats.default(this.ajv);
    this.ajv.addSchema(doc, DOC);
  }

  /** Null when `body` validates against the document's `webhooks` entry for `type`, else the errors. */
  webhookBodyErrors(type: string, body: unknown): string | null {
    const pointer = ['webhooks', type, 'post', 'requestBody', 'content', 'application/json', 'schema'];
    const validate = this.ajv.compile({ $ref: `${DOC}#/${pointer.map(segment).join('/')}` });
    return validate(body) ? null : this.ajv.errorsText(validate.errors);
  }

  check(method: string, template: string, res: TestResponse): void {
    const label = `${method.toUpperCase()} ${template} → ${res.status}`;
    const operation = this.doc.paths[template]?.[method.toLowerCase()];
    expect(operation, `${label}: the document has no such operation`).toBeDefined();
    const status = String(res.status);
    const response = operation!.responses[status];
    expect(response, `${label}: status not declared (declared: ${Object.keys(operation!.responses)})`).toBeDefined();
    const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
    if (res.text === '') {
      expect(response.content, `${label}: declared with a body, answered none`).toBeUndefined();
    } else {
      const media = response.content?.[type];
      expect(
        media,
        `${label}: content type "${type}" not declared (${Object.keys(response.content ?? {})})`,
      ).toBeDefined();
      const pointer = ['paths', template, method.toLowerCase(), 'responses', status, 'content', type, 'schema'];
      const ref = `${DOC}#/${pointer.map(segment).join('/')}`;
      let validate = this.validators.get(ref);
      if (!validate) {
        validate = this.ajv.compile({ $ref: ref });
        this.validators.set(ref, validate);
      }
      const body = /json/.test(type) ? JSON.parse(res.text) : res.text;
      const valid = validate(body);
      expect(valid, `${label}: ${this.ajv.errorsText(validate.errors)}\n${res.text.slice(0, 2000)}`).toBe(true);
    }
    const key = `${method.toUpperCase()} ${template}`;
    if (!this.seen.has(key)) this.seen.set(key, new Set());
    this.seen.get(key)!.add(res.status);
  }
}

let app: TestApp;
let spare: TestApp;
let conformance: Conformance;
/** The webhook receiver; what it was sent is checked against the document's `webhooks` section. */
const receiver = new Receiver();

beforeAll(async () => {
  app = await startTestApp({
    roles: ['api', 'worker'],
    now: '2026-03-02T10:00:00.000Z',
    env: { WEBHOOK_MAX_ATTEMPTS: '1', WEBHOOK_TIMEOUT_MS: '2000', WEBHOOK_ALLOW_PRIVATE: 'true' },
  });
  // a second service (API only, no worker) for the answers that need a small limit or a broken dependency
  spare = await startTestApp({ roles: ['api'], env: { RATE_LIMIT_PER_MINUTE: '5', BODY_LIMIT: '1kb' } });
  await receiver.start();
  const doc = await app.request('GET', '/openapi.json', { key: null });
  expect(doc.status).toBe(200);
  conformance = new Conformance(doc.body);
}, 60_000);

afterAll(async () => {
  receiver.stop();
  await spare?.close();
  await app?.close();
});

/** A request to `template` with its `{params}` filled in, checked against the document. */
async function call(
  on: TestApp,
  method: string,
  template: string,
  params: Record<string, string> = {},
  options: RequestOptions & { query?: string } = {},
): Promise<TestResponse> {
  const path = template.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(params[name] ?? ''));
  const res = await on.request(method, `${path}${options.query ? `?${options.query}` : ''}`, options);
  conformance.check(method, template, res);
  return res;
}
const api = (
  method: string,
  template: string,
  params?: Record<string, string>,
  options?: RequestOptions & { query?: string },
) => call(app, method, template, params, options);

const nobody = randomUUID();
const state: Record<string, any> = {};

describe('every answer validates against /openapi.json', () => {
  it('system', async () => {
    expect((await api('GET', '/healthz', {}, { key: null })).status).toBe(200);
    expect((await api('GET', '/readyz', {}, { key: null })).status).toBe(200);
    expect((await api('GET', '/openapi.json', {}, { key: null })).status).toBe(200);
    expect((await api('GET', '/docs', {}, { key: null })).status).toBe(200);
    expect((await api('GET', '/docs/init.js', {}, { key: null })).status).toBe(200);
    expect((await api('GET', '/metrics', {}, { key: app.keys.read })).status).toBe(200);
    expect((await api('GET', '/metrics', {}, { key: null })).status).toBe(401);
    expect((await api('GET', '/metrics', {}, { key: 'not-a-key' })).status).toBe(401);
  });

  it('credit types', async () => {
    const body = { code: 'oa-sms', name: 'SMS', unit: 'message' };
    expect((await api('POST', '/v1/credit-types', {}, { body })).status).toBe(201);
    expect((await api('POST', '/v1/credit-types', {}, { body })).status).toBe(409);
    expect((await api('POST', '/v1/credit-types', {}, { body: { code: 'Bad Code!' } })).status).toBe(422);
    expect((await api('POST', '/v1/credit-types', {}, { body, key: app.keys.write })).status).toBe(403);
    const hours = { code: 'oa-hours', name: 'Support', unit: 'hour', decimals: 2 };
    expect((await api('POST', '/v1/credit-types', {}, { body: hours })).status).toBe(201);
    expect((await api('GET', '/v1/credit-types')).status).toBe(200);
    expect((await api('GET', '/v1/credit-types', {}, { query: 'limit=0' })).status).toBe(422);
    expect((await api('GET', '/v1/credit-types/{id}', { id: 'oa-sms' })).status).toBe(200);
    expect((await api('GET', '/v1/credit-types/{id}', { id: 'oa-none' })).status).toBe(404);
    expect((await api('PATCH', '/v1/credit-types/{id}', { id: 'oa-sms' }, { body: { name: 'Texts' } })).status).toBe(
      200,
    );
    expect((await api('PATCH', '/v1/credit-types/{id}', { id: 'oa-none' }, { body: { name: 'X' } })).status).toBe(404);
    expect((await api('PATCH', '/v1/credit-types/{id}', { id: 'oa-sms' }, { body: {} })).status).toBe(422);
  });

  it('packages', async () => {
    const body = {
      code: 'oa-pack',
      name: 'Pack',
      price: 1500,
      currency: 'USD',
      validity: { count: 1, unit: 'month' },
      items: [
        { credit_type: 'oa-sms', units: 100 },
        { credit_type: 'oa-hours', units: '2.5' },
      ],
      rollover: { policy: 'percent', percent: 50, cap_percent: 20 },
    };
    expect((await api('POST', '/v1/packages', {}, { body })).status).toBe(201);
    expect((await api('POST', '/v1/packages', {}, { body })).status).toBe(409);
    expect(
      (await api('POST', '/v1/packages', {}, { body: { ...body, code: 'oa-x', currency: 'DOLLARS' } })).status,
    ).toBe(422);
    expect((await api('GET', '/v1/packages')).status).toBe(200);
    expect((await api('GET', '/v1/packages/{id}', { id: 'oa-pack' })).status).toBe(200);
    expect((await api('GET', '/v1/packages/{id}', { id: 'oa-none' })).status).toBe(404);
    expect((await api('PATCH', '/v1/packages/{id}', { id: 'oa-pack' }, { body: { price: 1600 } })).status).toBe(200);
    expect((await api('PATCH', '/v1/packages/{id}', { id: 'oa-none' }, { body: { price: 1 } })).status).toBe(404);
    expect((await api('PATCH', '/v1/packages/{id}', { id: 'oa-pack' }, { body: {} })).status).toBe(422);
    // a validity in Hijri months (issue 18); a Hijri day is refused
    const hijri = { ...body, code: 'oa-hijri', validity: { count: 1, unit: 'month', calendar: 'islamic-umalqura' } };
    expect((await api('POST', '/v1/packages', {}, { body: hijri })).status).toBe(201);
    const hijriDay = {
      ...hijri,
      code: 'oa-hijri-day',
      validity: { count: 7, unit: 'day', calendar: 'islamic-umalqura' },
    };
    expect((await api('POST', '/v1/packages', {}, { body: hijriDay })).status).toBe(422);
  });

  it('clients', async () => {
    const body = { external_ref: 'oa-c1', name: 'Acme', email: 'ops@acme.test' };
    expect((await api('POST', '/v1/clients', {}, { body })).status).toBe(201);
    expect((await api('POST', '/v1/clients', {}, { body: { ...body, name: 'Acme Ltd' } })).status).toBe(200);
    expect((await api('POST', '/v1/clients', {}, { body: {} })).status).toBe(422);
    expect((await api('GET', '/v1/clients')).status).toBe(200);
    expect((await api('GET', '/v1/clients/{id}', { id: 'oa-c1' })).status).toBe(200);
    expect((await api('GET', '/v1/clients/{id}', { id: 'oa-none' })).status).toBe(404);
    expect((await api('PATCH', '/v1/clients/{id}', { id: 'oa-c1' }, { body: { name: 'Acme' } })).status).toBe(200);
    expect((await api('PATCH', '/v1/clients/{id}', { id: 'oa-none' }, { body: { name: 'X' } })).status).toBe(404);
    const grant = (id: string, body: unknown) => api('POST', '/v1/clients/{id}/grants', { id }, { body });
    const granted = await grant('oa-c1', {
      credit_type: 'oa-sms',
      units: '7',
      expires_at: '2027-12-31T00:00:00Z',
      reason: 'goodwill',
    });
    expect(granted.status, granted.text).toBe(201);
    expect((await grant('oa-c1', { credit_type: 'oa-sms', units: '7', reason: 'no expiry' })).status).toBe(422);
    expect(
      (await grant(nobody, { credit_type: 'oa-sms', units: '1', expires_at: '2027-12-31T00:00:00Z', reason: 'x' }))
        .status,
    ).toBe(404);
    expect((await api('GET', '/v1/clients/{id}/balances', { id: 'oa-c1' })).status).toBe(200);
    expect((await api('GET', '/v1/clients/{id}/balances', { id: 'oa-none' })).status).toBe(404);
    expect((await api('GET', '/v1/clients/{id}/statement', { id: 'oa-none' })).status).toBe(404);
    expect((await api('GET', '/v1/clients/{id}/statement', { id: 'oa-c1' }, { query: 'cursor=abc' })).status).toBe(422);
  });

  it('subscriptions', async () => {
    const created = await api('POST', '/v1/subscriptions', {}, { body: { client: 'oa-c1', package: 'oa-pack' } });
    expect(created.status, created.text).toBe(201);
    state.sub = created.body;
    const second = await api('POST', '/v1/subscriptions', {}, { body: { client: 'oa-c1', package: 'oa-pack' } });
    expect(second.status).toBe(201);
    state.sub2 = second.body;
    const third = await api('POST', '/v1/subscriptions', {}, { body: { client: 'oa-c1', package: 'oa-pack' } });
    state.sub3 = third.body;
    expect(
      (await api('POST', '/v1/subscriptions', {}, { body: { client: 'oa-none', package: 'oa-pack' } })).status,
    ).toBe(404);
    expect((await api('POST', '/v1/subscriptions', {}, { body: {} })).status).toBe(422);
    expect((await api('GET', '/v1/subscriptions', {}, { query: 'client=oa-c1' })).status).toBe(200);
    expect((await api('GET', '/v1/subscriptions/{id}', { id: state.sub.id })).status).toBe(200);
    expect((await api('GET', '/v1/subscriptions/{id}', { id: nobody })).status).toBe(404);
    const patch = { auto_renew: true, auto_recharge: { enabled: true, threshold_percent: 10, max_per_period: 2 } };
    expect((await api('PATCH', '/v1/subscriptions/{id}', { id: state.sub.id }, { body: patch })).status).toBe(200);
    expect((await api('PATCH', '/v1/subscriptions/{id}', { id: nobody }, { body: patch })).status).toBe(404);
    expect((await api('PATCH', '/v1/subscriptions/{id}', { id: state.sub.id }, { body: {} })).status).toBe(422);

    const renewed = await api('POST', '/v1/subscriptions/{id}/renew', { id: state.sub.id }, { query: 'wait=true' });
    expect(renewed.status, renewed.text).toBe(200);
    const queued = await api('POST', '/v1/subscriptions/{id}/renew', { id: state.sub3.id });
    expect(queued.status).toBe(202);
    expect((await api('POST', '/v1/subscriptions/{id}/renew', { id: nobody })).status).toBe(404);
    const recharged = await api(
      'POST',
      '/v1/subscriptions/{id}/recharge',
      { id: state.sub.id },
      { query: 'wait=true', headers: { 'Idempotency-Key': 'oa-top-1' } },
    );
    expect(recharged.status, recharged.text).toBe(200);
    const again = await api(
      'POST',
      '/v1/subscriptions/{id}/recharge',
      { id: state.sub.id },
      { headers: { 'Idempotency-Key': 'oa-top-2' }, body: { items: [{ credit_type: 'oa-sms', units: 5 }], price: 10 } },
    );
    expect(again.status).toBe(202);
    expect((await api('POST', '/v1/subscriptions/{id}/recharge', { id: nobody })).status).toBe(404);
    expect(
      (await api('POST', '/v1/subscriptions/{id}/recharge', { id: state.sub.id }, { body: { price: -1 } })).status,
    ).toBe(422);

    // freeze and unfreeze (the package allows 10 days per period)
    const freezable = await api('PATCH', '/v1/packages/{id}', { id: 'oa-pack' }, { body: { max_freeze_days: 10 } });
    expect(freezable.status, freezable.text).toBe(200);
    const freeze = (id: string, body?: unknown) => api('POST', '/v1/subscriptions/{id}/freeze', { id }, { body });
    expect((await freeze(state.sub2.id, { days: 11 })).status).toBe(422);
    const frozen = await freeze(state.sub2.id, { days: 2 });
    expect(frozen.status, frozen.text).toBe(200);
    expect((await freeze(state.sub2.id, { days: 1 })).status).toBe(409);
    expect((await freeze(nobody, {})).status).toBe(404);
    const unfreeze = (id: string) => api('POST', '/v1/subscriptions/{id}/unfreeze', { id });
    const unfrozen = await unfreeze(state.sub2.id);
    expect(unfrozen.status, unfrozen.text).toBe(200);
    expect((await unfreeze(state.sub2.id)).status).toBe(409);
    expect((await unfreeze(nobody)).status).toBe(404);

    const cancelled = await api(
      'POST',
      '/v1/subscriptions/{id}/cancel',
      { id: state.sub2.id },
      { body: { at: 'now' } },
    );
    expect(cancelled.status, cancelled.text).toBe(200);
    expect((await api('POST', '/v1/subscriptions/{id}/cancel', { id: nobody }, { body: {} })).status).toBe(404);
    expect(
      (await api('POST', '/v1/subscriptions/{id}/cancel', { id: state.sub.id }, { body: { at: 'later' } })).status,
    ).toBe(422);
    // a cancelled subscription is neither renewed nor recharged
    expect(
      (await api('POST', '/v1/subscriptions/{id}/renew', { id: state.sub2.id }, { query: 'wait=true' })).status,
    ).toBe(409);
    expect(
      (await api('POST', '/v1/subscriptions/{id}/recharge', { id: state.sub2.id }, { query: 'wait=true' })).status,
    ).toBe(409);
  });

  it('invoices', async () => {
    expect((await api('GET', '/v1/invoices', {}, { query: 'client=oa-c1' })).status).toBe(200);
    expect((await api('GET', '/v1/invoices/{id}', { id: state.sub.invoice.id })).status).toBe(200);
    expect((await api('GET', '/v1/invoices/{id}', { id: nobody })).status).toBe(404);
    expect((await api('POST', '/v1/invoices/{id}/pay', { id: state.sub.invoice.id })).status).toBe(200);
    expect((await api('POST', '/v1/invoices/{id}/pay', { id: nobody })).status).toBe(404);
    expect((await api('POST', '/v1/invoices/{id}/void', { id: state.sub.invoice.id }, { body: {} })).status).toBe(409);
    expect(
      (await api('POST', '/v1/invoices/{id}/void', { id: state.sub3.invoice.id }, { body: { reason: 'test' } })).status,
    ).toBe(200);
    expect((await api('POST', '/v1/invoices/{id}/pay', { id: state.sub3.invoice.id })).status).toBe(409);
    expect((await api('POST', '/v1/invoices/{id}/void', { id: nobody })).status).toBe(404);
  });

  it('consumptions', async () => {
    const use = (key: string, quantity: unknown = 3) => ({
      client: 'oa-c1',
      credit_type: 'oa-sms',
      quantity,
      idempotency_key: key,
    });
    const queued = await api('POST', '/v1/consumptions', {}, { body: use('oa-u1') });
    expect(queued.status).toBe(202);
    const applied = await api('POST', '/v1/consumptions', {}, { body: use('oa-u2'), query: 'wait=true' });
    expect(applied.status, applied.text).toBe(200);
    state.consumption = applied.body;
    // the same again: the first result, replayed
    expect((await api('POST', '/v1/consumptions', {}, { body: use('oa-u2'), query: 'wait=true' })).status).toBe(200);
    const short = await api('POST', '/v1/consumptions', {}, { body: use('oa-u3', 100_000), query: 'wait=true' });
    expect(short.status, short.text).toBe(422);
    expect(short.body).toMatchObject({ code: 'insufficient_balance', consumption_status: 'rejected' });
    state.rejected = short.body;
    expect((await api('POST', '/v1/consumptions', {}, { body: use('oa-u2', 4) })).status).toBe(409);
    expect((await api('POST', '/v1/consumptions', {}, { body: { ...use('oa-u4'), client: 'oa-none' } })).status).toBe(
      404,
    );
    expect((await api('POST', '/v1/consumptions', {}, { body: use('oa-u5', 'abc') })).status).toBe(422);
    expect(
      (await api('POST', '/v1/consumptions/batch', {}, { body: { items: [use('oa-b1'), use('oa-b2', '1')] } })).status,
    ).toBe(202);
    expect((await api('POST', '/v1/consumptions/batch', {}, { body: { items: [] } })).status).toBe(422);
    // a use naming no client fails alone: accepted, that item `failed`, readable by its id
    const nobodyUse = { ...use('oa-b4'), client: 'oa-none' };
    const alone = await api('POST', '/v1/consumptions/batch', {}, { body: { items: [use('oa-b3'), nobodyUse] } });
    expect(alone.status, alone.text).toBe(202);
    expect(alone.body.data[1]).toMatchObject({ status: 'failed', code: 'not_found' });
    expect((await api('GET', '/v1/consumptions/{id}', { id: alone.body.data[1].id })).status).toBe(200);
    const waited = await api(
      'POST',
      '/v1/consumptions/batch',
      {},
      { body: { items: [use('oa-b5'), nobodyUse] }, query: 'wait=true' },
    );
    expect(waited.status, waited.text).toBe(200);
    expect((await api('GET', '/v1/consumptions/{id}', { id: state.consumption.id })).status).toBe(200);
    expect((await api('GET', '/v1/consumptions/{id}', { id: queued.body.id })).status).toBe(200);
    expect((await api('GET', '/v1/consumptions/{id}', { id: nobody })).status).toBe(404);
    expect((await api('GET', '/v1/consumptions', {}, { query: 'client=oa-c1' })).status).toBe(200);
    expect((await api('GET', '/v1/consumptions', {}, { query: 'idempotency_key=oa-u1' })).status).toBe(422);

    const reversed = await api(
      'POST',
      '/v1/consumptions/{id}/reverse',
      { id: state.consumption.id },
      { query: 'wait=true', body: { reason: 'test' } },
    );
    expect(reversed.status, reversed.text).toBe(200);
    // reversed before: the first reversal, at once
    expect((await api('POST', '/v1/consumptions/{id}/reverse', { id: state.consumption.id })).status).toBe(200);
    const later = await api('POST', '/v1/consumptions', {}, { body: use('oa-u6'), query: 'wait=true' });
    expect((await api('POST', '/v1/consumptions/{id}/reverse', { id: later.body.id })).status).toBe(202);
    expect((await api('POST', '/v1/consumptions/{id}/reverse', { id: nobody })).status).toBe(404);
    expect(
      (await api('POST', '/v1/consumptions/{id}/reverse', { id: state.rejected.id }, { query: 'wait=true' })).status,
    ).toBe(409);
  });

  it('holds', async () => {
    const body = (key: string, quantity: unknown = 2) => ({
      client: 'oa-c1',
      credit_type: 'oa-sms',
      quantity,
      idempotency_key: key,
    });
    const queued = await api('POST', '/v1/holds', {}, { body: body('oa-h1') });
    expect(queued.status, queued.text).toBe(202);
    const held = await api('POST', '/v1/holds', {}, { body: body('oa-h2'), query: 'wait=true' });
    expect(held.status, held.text).toBe(200);
    expect((await api('POST', '/v1/holds', {}, { body: body('oa-h2'), query: 'wait=true' })).status).toBe(200);
    expect((await api('POST', '/v1/holds', {}, { body: body('oa-h2', 3) })).status).toBe(409);
    const short = await api('POST', '/v1/holds', {}, { body: body('oa-h3', 100_000), query: 'wait=true' });
    expect(short.status, short.text).toBe(422);
    expect(short.body).toMatchObject({ code: 'insufficient_balance', hold_status: 'rejected' });
    expect((await api('POST', '/v1/holds', {}, { body: { ...body('oa-h4'), expires_in_seconds: 0 } })).status).toBe(
      422,
    );
    expect((await api('POST', '/v1/holds', {}, { body: { ...body('oa-h5'), client: 'oa-none' } })).status).toBe(404);
    expect((await api('GET', '/v1/holds/{id}', { id: held.body.id })).status).toBe(200);
    expect((await api('GET', '/v1/holds/{id}', { id: queued.body.id })).status).toBe(200);
    expect((await api('GET', '/v1/holds/{id}', { id: nobody })).status).toBe(404);
    expect((await api('GET', '/v1/holds', {}, { query: 'client=oa-c1&status=held' })).status).toBe(200);

    const captured = await api('POST', '/v1/holds/{id}/capture', { id: held.body.id }, { body: { quantity: 1 } });
    expect(captured.status, captured.text).toBe(200);
    expect((await api('POST', '/v1/holds/{id}/capture', { id: held.body.id }, { body: { quantity: 1 } })).status).toBe(
      200,
    );
    // another quantity (none: all 2 it held) is another capture
    expect((await api('POST', '/v1/holds/{id}/capture', { id: held.body.id })).status).toBe(409);
    expect((await api('POST', '/v1/holds/{id}/capture', { id: nobody })).status).toBe(404);
    expect((await api('POST', '/v1/holds/{id}/release', { id: held.body.id })).status).toBe(409);
    const other = await api('POST', '/v1/holds', {}, { body: body('oa-h6'), query: 'wait=true' });
    expect((await api('POST', '/v1/holds/{id}/release', { id: other.body.id })).status).toBe(200);
    expect((await api('POST', '/v1/holds/{id}/release', { id: other.body.id })).status).toBe(200);
    expect((await api('POST', '/v1/holds/{id}/release', { id: nobody })).status).toBe(404);
    expect((await api('POST', '/v1/holds/{id}/capture', { id: other.body.id })).status).toBe(409);
  });

  it('read side: quote, balances as of, forecast, usage by a dimension', async () => {
    const quote = (body: unknown) => api('POST', '/v1/consumptions/quote', {}, { body, key: app.keys.read });
    const asked = await quote({ client: 'oa-c1', credit_type: 'oa-sms', quantity: 2 });
    expect(asked.status, asked.text).toBe(200);
    expect((await quote({ client: 'oa-none', credit_type: 'oa-sms', quantity: 2 })).status).toBe(404);
    expect((await quote({ client: 'oa-c1', credit_type: 'oa-sms', quantity: '0.5' })).status).toBe(422);
    const asOf = await api(
      'GET',
      '/v1/clients/{id}/balances',
      { id: 'oa-c1' },
      { query: 'as_of=2026-03-02T09:00:00Z' },
    );
    expect(asOf.status, asOf.text).toBe(200);
    expect((await api('GET', '/v1/clients/{id}/balances', { id: 'oa-c1' }, { query: 'as_of=soon' })).status).toBe(422);
    const forecast = (id: string, query: string) => api('GET', '/v1/clients/{id}/forecast', { id }, { query });
    const f = await forecast('oa-c1', 'credit_type=oa-sms&window_days=7');
    expect(f.status, f.text).toBe(200);
    expect((await forecast('oa-none', 'credit_type=oa-sms')).status).toBe(404);
    expect((await forecast('oa-c1', 'credit_type=oa-sms&window_days=abc')).status).toBe(422);
    const declared = await api(
      'PATCH',
      '/v1/credit-types/{id}',
      { id: 'oa-sms' },
      { body: { dimensions: ['branch'] } },
    );
    expect(declared.status, declared.text).toBe(200);
    const usage = (id: string, query: string) => api('GET', '/v1/clients/{id}/usage', { id }, { query });
    expect((await usage('oa-c1', 'credit_type=oa-sms&group_by=branch')).status).toBe(200);
    expect((await usage('oa-c1', 'credit_type=oa-sms&group_by=week')).status).toBe(200);
    expect((await usage('oa-none', 'credit_type=oa-sms')).status).toBe(404);
    expect((await usage('oa-c1', 'credit_type=oa-sms&group_by=region')).status).toBe(422);
  });
  it('balances', async () => {
    const balance = state.sub.balances.find((b: { credit_type: { code: string } }) => b.credit_type.code === 'oa-sms');
    expect((await api('GET', '/v1/balances/{id}', { id: balance.id })).status).toBe(200);
    expect((await api('GET', '/v1/balances/{id}', { id: nobody })).status).toBe(404);
    const adjust = (id: string, body: unknown) => api('POST', '/v1/balances/{id}/adjustments', { id }, { body });
    expect((await adjust(balance.id, { delta: '5', reason: 'goodwill' })).status).toBe(201);
    expect((await adjust(balance.id, { delta: '5' })).status).toBe(422);
    const short = await adjust(balance.id, { delta: '-100000', reason: 'too much' });
    expect(short.status, short.text).toBe(422);
    expect(short.body.code).toBe('insufficient_balance');
    expect((await adjust(nobody, { delta: '1', reason: 'x' })).status).toBe(404);
    const voided = state.sub2.balances[0];
    expect((await adjust(voided.id, { delta: '1', reason: 'x' })).status).toBe(409);
    expect((await api('GET', '/v1/clients/{id}/balances', { id: 'oa-c1' })).status).toBe(200);
    expect(
      (await api('GET', '/v1/clients/{id}/statement', { id: 'oa-c1' }, { query: 'credit_type=oa-sms' })).status,
    ).toBe(200);
  });

  it('webhooks', async () => {
    const good = await api(
      'POST',
      '/v1/webhook-endpoints',
      {},
      { body: { url: receiver.url, events: ['invoice.paid'] } },
    );
    expect(good.status, good.text).toBe(201);
    const bad = await api(
      'POST',
      '/v1/webhook-endpoints',
      {},
      { body: { url: 'http://127.0.0.1:1/closed', events: ['invoice.paid'] } },
    );
    expect(bad.status).toBe(201);
    expect((await api('POST', '/v1/webhook-endpoints', {}, { body: { url: 'ftp://x', events: [] } })).status).toBe(422);
    expect((await api('GET', '/v1/webhook-endpoints')).status).toBe(200);
    expect((await api('GET', '/v1/webhook-endpoints/{id}', { id: bad.body.id })).status).toBe(200);

    // an event for both: delivered to one, failed for good at the other (WEBHOOK_MAX_ATTEMPTS=1)
    const sub = await api('POST', '/v1/subscriptions', {}, { body: { client: 'oa-c1', package: 'oa-pack' } });
    expect((await api('POST', '/v1/invoices/{id}/pay', { id: sub.body.invoice.id })).status).toBe(200);
    const deliveryOf = async (endpoint: string) => {
      const res = await api('GET', '/v1/webhook-endpoints/{id}/deliveries', { id: endpoint });
      expect(res.status).toBe(200);
      return res.body.data as Array<{ id: string }>;
    };
    // the relay makes both deliveries in the one transaction that dispatches the event: once the receiver has the
    // good one, both rows are there; each delivery job is then awaited on its own event
    await receiver.until(1);
    const [delivered, failed] = [await deliveryOf(good.body.id), await deliveryOf(bad.body.id)];
    const outcomes = await Promise.all(
      [delivered[0]!, failed[0]!].map((d) =>
        awaitOutcome(app.ctx, 'deliver', `delivery|${d.id}`, { timeoutMs: 20_000, untilAdded: true }),
      ),
    );
    expect(outcomes.map((o) => o.state)).toEqual(['completed', 'failed']);
    // the failed delivery disabled its endpoint: a retry waits until it is enabled again
    expect((await api('POST', '/v1/webhook-deliveries/{id}/retry', { id: failed[0]!.id })).status).toBe(409);
    const enabled = await api('POST', '/v1/webhook-endpoints/{id}/enable', { id: bad.body.id });
    expect(enabled.status, enabled.text).toBe(200);
    expect(enabled.body.disabled_at).toBeNull();
    expect((await api('POST', '/v1/webhook-endpoints/{id}/enable', { id: nobody })).status).toBe(404);
    expect((await api('POST', '/v1/webhook-deliveries/{id}/retry', { id: failed[0]!.id })).status).toBe(202);
    const rotated = await api('POST', '/v1/webhook-endpoints/{id}/rotate-secret', { id: good.body.id }, { body: {} });
    expect(rotated.status, rotated.text).toBe(200);
    expect(rotated.body.secret).not.toBe(good.body.secret);
    expect(rotated.body.previous_secret_expires_at).not.toBeNull();
    expect(
      (await api('POST', '/v1/webhook-endpoints/{id}/rotate-secret', { id: nobody }, { body: { grace_seconds: 0 } }))
        .status,
    ).toBe(404);
    expect(
      (await api('POST', '/v1/webhook-endpoints', {}, { body: { url: receiver.url, events: ['*'], secret: 'short' } }))
        .status,
    ).toBe(422);

    // the events, as a list with a cursor; the disabling is one of them
    const events = await api('GET', '/v1/events', {}, { query: 'limit=2' });
    expect(events.status, events.text).toBe(200);
    expect(events.body.data).toHaveLength(2);
    expect(events.body.next_cursor).toBe(events.body.data[1].seq);
    const next = await api('GET', '/v1/events', {}, { query: `after=${events.body.next_cursor}&limit=500` });
    expect(next.status).toBe(200);
    expect(Number(next.body.data[0].seq)).toBeGreaterThan(Number(events.body.next_cursor));
    const disabled = await api('GET', '/v1/events', {}, { query: 'type=webhook_endpoint.disabled' });
    // (once, or twice when the retry above failed again already)
    const disabledIds = disabled.body.data.map((e: { data: { endpoint_id: string } }) => e.data.endpoint_id);
    expect([...new Set(disabledIds)]).toEqual([bad.body.id]);
    expect((await api('GET', '/v1/events', {}, { query: 'after=x' })).status).toBe(422);
    expect((await api('GET', '/v1/events', {}, { query: 'type=balance.exploded' })).status).toBe(422);

    // what the receiver was sent validates against the document's `webhooks` section, by its type
    const webhooks = (conformance.doc as unknown as { webhooks: Record<string, unknown> }).webhooks;
    expect(Object.keys(webhooks)).toEqual(expect.arrayContaining(['invoice.paid', 'webhook_endpoint.disabled']));
    expect(receiver.received.length).toBeGreaterThan(0);
    for (const { body } of receiver.received) {
      const event = JSON.parse(body) as { type: string };
      expect(conformance.webhookBodyErrors(event.type, event), body).toBeNull();
    }
    for (const event of [...events.body.data, ...next.body.data] as Array<{ type: string; seq?: string }>) {
      const { seq: _seq, ...envelope } = event;
      expect(conformance.webhookBodyErrors(event.type, envelope), JSON.stringify(event)).toBeNull();
    }
    expect((await api('POST', '/v1/webhook-deliveries/{id}/retry', { id: delivered[0]!.id })).status).toBe(409);
    expect((await api('POST', '/v1/webhook-deliveries/{id}/retry', { id: nobody })).status).toBe(404);
    expect((await api('GET', '/v1/webhook-endpoints/{id}/deliveries', { id: nobody })).status).toBe(404);
    expect((await api('DELETE', '/v1/webhook-endpoints/{id}', { id: bad.body.id })).status).toBe(204);
    expect((await api('DELETE', '/v1/webhook-endpoints/{id}', { id: bad.body.id })).status).toBe(404);
  });

  it('reports', async () => {
    const csv = await api(
      'POST',
      '/v1/reports',
      {},
      { body: { type: 'consumption', format: 'csv', params: { group_by: 'day' } } },
    );
    expect(csv.status, csv.text).toBe(202);
    const json = await api('POST', '/v1/reports', {}, { body: { type: 'balances', format: 'json' } });
    expect(json.status).toBe(202);
    expect((await api('POST', '/v1/reports', {}, { body: { type: 'everything' } })).status).toBe(422);
    for (const id of [csv.body.id, json.body.id]) {
      const outcome = await awaitOutcome(app.ctx, 'generate', `report|${id}`, { timeoutMs: 20_000, untilAdded: true });
      expect(outcome.state).toBe('completed');
    }
    expect((await api('GET', '/v1/reports')).status).toBe(200);
    expect((await api('GET', '/v1/reports/{id}', { id: csv.body.id })).status).toBe(200);
    expect((await api('GET', '/v1/reports/{id}', { id: nobody })).status).toBe(404);
    const file = await api('GET', '/v1/reports/{id}/download', { id: csv.body.id });
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toMatch(/^text\/csv/);
    const data = await api('GET', '/v1/reports/{id}/download', { id: json.body.id });
    expect(data.status).toBe(200);
    expect(data.headers.get('content-type')).toMatch(/^application\/json/);
    expect((await api('GET', '/v1/reports/{id}/download', { id: nobody })).status).toBe(404);
    // a run no worker has taken yet (the spare service has none) is not downloadable
    const waiting = await call(spare, 'POST', '/v1/reports', {}, { body: { type: 'balances', format: 'json' } });
    expect(waiting.status).toBe(202);
    expect((await call(spare, 'GET', '/v1/reports/{id}/download', { id: waiting.body.id })).status).toBe(409);
  });

  it('admin', async () => {
    expect((await api('POST', '/v1/admin/verify')).status).toBe(200);
    expect((await api('GET', '/v1/admin/clock')).status).toBe(200);
    expect((await api('PUT', '/v1/admin/clock', {}, { body: { now: 'yesterday' } })).status).toBe(422);
    // past the third subscription's period (its renewal was voided with its invoice): it expires
    const later = await api('PUT', '/v1/admin/clock', {}, { body: { now: '2026-06-20T10:00:00Z' } });
    expect(later.status).toBe(200);
    const nightly = await api('POST', '/v1/admin/nightly-runs', {}, { body: { timeout_ms: 20_000 } });
    expect(nightly.status, nightly.text).toBe(200);
    const runs = await api('GET', '/v1/admin/nightly-runs', {}, { query: 'limit=1' });
    expect(runs.body.data[0]).toMatchObject({ as_of: nightly.body.as_of, report: { as_of: nightly.body.as_of } });
    const expired = await api('GET', '/v1/subscriptions', {}, { query: 'client=oa-c1&status=expired' });
    expect(expired.body.data.length).toBeGreaterThan(0);
    const cancel = await api('POST', '/v1/subscriptions/{id}/cancel', { id: expired.body.data[0].id }, { body: {} });
    expect(cancel.status, cancel.text).toBe(409);
    // the clock of a service that runs on the system clock cannot be read or moved
    const clockOf = spare.ctx as { clock: unknown };
    const manual = clockOf.clock;
    clockOf.clock = systemClock;
    try {
      expect((await call(spare, 'GET', '/v1/admin/clock')).status).toBe(404);
      expect((await call(spare, 'PUT', '/v1/admin/clock', {}, { body: { now: '2026-01-01T00:00:00Z' } })).status).toBe(
        404,
      );
    } finally {
      clockOf.clock = manual;
    }
  }, 60_000);

  it('API keys and the audit trail', async () => {
    const body = { name: 'oa key', scopes: ['read'] };
    const headers = { 'idempotency-key': 'oa-key-1' };
    const made = await api('POST', '/v1/api-keys', {}, { body, headers });
    expect(made.status, made.text).toBe(201);
    expect((await api('POST', '/v1/api-keys', {}, { body, headers })).status).toBe(409);
    expect((await api('POST', '/v1/api-keys', {}, { body: { name: 'oa key', scopes: [] } })).status).toBe(422);
    expect((await api('GET', '/v1/api-keys', {}, { query: 'limit=2' })).status).toBe(200);
    expect((await api('POST', '/v1/api-keys/{id}/revoke', { id: made.body.id })).status).toBe(200);
    expect((await api('POST', '/v1/api-keys/{id}/revoke', { id: nobody })).status).toBe(404);
    // the service has one admin key: it cannot be revoked
    const [admin] = await app.database.db('api_keys').whereRaw("'admin' = ANY (scopes)").pluck('id');
    expect((await api('POST', '/v1/api-keys/{id}/revoke', { id: admin })).status).toBe(409);
    const events = await api('GET', '/v1/audit-events', {}, { query: 'action=api-keys&limit=2' });
    expect(events.status).toBe(200);
    expect(events.body.data).toHaveLength(2);
    expect((await api('GET', '/v1/audit-events', {}, { query: 'from=yesterday' })).status).toBe(422);
  });

  it('forbidden, rate limited, too large, unexpected failure, unavailable', async () => {
    expect((await call(spare, 'GET', '/v1/webhook-endpoints', {}, { key: spare.keys.read })).status).toBe(403);
    const body = { external_ref: 'x'.repeat(2_000), name: 'Large' };
    expect((await call(spare, 'POST', '/v1/clients', {}, { body, key: spare.keys.write })).status).toBe(413);

    // a key of its own, so that its budget (RATE_LIMIT_PER_MINUTE=5) is spent by this loop alone
    const { key } = await createApiKey(spare.database.db, { name: 'burst', scopes: ['read'], now: new Date() });
    const statuses: number[] = [];
    for (let i = 0; i < 7; i += 1) statuses.push((await call(spare, 'GET', '/v1/credit-types', {}, { key })).status);
    expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
    expect(statuses.at(-1)).toBe(429);

    // a statement that fails for no reason the caller could fix: 500 internal, never a stack or the message
    await spare.database.db.raw(
      `CREATE FUNCTION oa_explode() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'oa secret'; END $$`,
    );
    await spare.database.db.raw(
      'CREATE TRIGGER oa_explode BEFORE INSERT ON clients FOR EACH ROW EXECUTE FUNCTION oa_explode()',
    );
    const internal = await call(spare, 'POST', '/v1/clients', {}, { body: { external_ref: 'oa-500', name: 'X' } });
    expect(internal.status).toBe(500);
    expect(internal.text).not.toContain('oa secret');

    // Redis gone: what needs it answers 503 unavailable, and /readyz says which check failed
    const ended = once(spare.ctx.redis, 'end');
    spare.ctx.redis.disconnect();
    await ended;
    try {
      const report = { type: 'balances', format: 'json' };
      expect((await call(spare, 'POST', '/v1/reports', {}, { body: report, key: spare.keys.write })).status).toBe(503);
      const ready = await call(spare, 'GET', '/readyz', {}, { key: null });
      expect(ready.status).toBe(503);
      expect(ready.body.checks.redis).toMatch(/^down/);
    } finally {
      await spare.ctx.redis.connect();
    }
  });

  it('the check refuses what the document does not describe (the validator is live)', () => {
    const answer = (status: number, body: unknown, type = 'application/problem+json'): TestResponse => ({
      status,
      body,
      text: JSON.stringify(body),
      headers: new Headers({ 'content-type': type }),
    });
    const problem = {
      type: 'urn:credits:problem:insufficient_balance',
      title: 'Insufficient balance',
      detail: 'short',
    };
    // a rejection without the consumption's fields, as the document described it before
    expect(() =>
      conformance.check(
        'POST',
        '/v1/consumptions',
        answer(422, { ...problem, status: 422, code: 'insufficient_balance' }),
      ),
    ).toThrow(/must have required property/);
    // a member the document does not declare
    const consumption = { ...state.consumption, surprise: 1 };
    expect(() =>
      conformance.check('GET', '/v1/consumptions/{id}', answer(200, consumption, 'application/json')),
    ).toThrow(/must NOT have additional properties/);
    // a status the operation does not declare
    expect(() => conformance.check('GET', '/healthz', answer(404, { ...problem, status: 404 }))).toThrow(
      /not declared/,
    );
  });

  it('every operation of the document was called, and answered a success at least once', () => {
    const missing: string[] = [];
    for (const [path, operations] of Object.entries(conformance.doc.paths)) {
      for (const method of Object.keys(operations)) {
        const statuses = conformance.seen.get(`${method.toUpperCase()} ${path}`);
        if (!statuses || ![...statuses].some((s) => s < 300)) missing.push(`${method.toUpperCase()} ${path}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
