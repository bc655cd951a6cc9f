import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyInvariants } from '../../src/services/verify.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { countRows, createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';
import { signInToUi, uiGet, uiPost } from '../helpers/ui-session.js';

/**
 * Capturing and releasing an open hold from the client page, over plain HTTP with the workers running: each
 * asks first, then goes through POST /v1/holds/{id}/capture or /release as the API does; the API must then
 * agree with the page. A refusal (the hold closed meanwhile, a quantity above what it holds) is told on the
 * client's page in its language and changes nothing; a key below admin can neither see nor send the forms.
 */
const NOW = '2026-04-12T09:00:00.000Z';
let app: TestApp;
let session: string;
let sms: { id: string; code: string };
let client: { id: string; external_ref: string };

const get = (path: string, headers: Record<string, string> = {}) => uiGet(app.baseUrl, session, path, headers);
const post = (path: string, form: Record<string, string>, headers: Record<string, string> = {}) =>
  uiPost(app.baseUrl, session, path, form, headers);

/** The hidden fields of the form posting to `action` on a page (csrf, idem; on a confirmation, confirmed and more). */
function hiddenOf(html: string, action: string): Record<string, string> {
  const form = new RegExp(`<form[^>]*action="${action}"[^>]*>(.*?)</form>`, 's').exec(html)?.[1];
  expect(form, `a form posting to ${action}`).toBeDefined();
  return Object.fromEntries(
    [...form!.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1]!, m[2]!]),
  );
}
/** The text of the message beside a field, tags dropped. */
const messageBeside = (html: string, field: string): string | undefined =>
  new RegExp(`<p class="field-error" id="error-${field}" role="alert">(.*?)</p>`, 's')
    .exec(html)?.[1]
    ?.replace(/<[^>]+>/g, '');
/** The text a person reads on a page: tags dropped, entities of the escaper undone, spaces collapsed. */
const readable = (html: string): string =>
  html
    .replace(/<[^>]+>/g, '')
    .replaceAll('&#39;', "'")
    .replaceAll('&quot;', '"')
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&amp;', '&')
    .replace(/\s+/g, ' ');
const basic = (key: string) => `Basic ${Buffer.from(`admin:${key}`).toString('base64')}`;

interface HoldBody {
  id: string;
  status: string;
  held: string;
  captured: string | null;
  released: string | null;
  consumption_id: string | null;
}

/** A hold of `quantity` SMS for the client, through the API as a producer takes it. */
async function holdOf(quantity: number, key: string): Promise<string> {
  const res = await app.request('POST', '/v1/holds?wait=true', {
    key: app.keys.write,
    body: {
      client: client.external_ref,
      credit_type: sms.code,
      quantity,
      idempotency_key: key,
      reference: `call ${key}`,
    },
  });
  expect(res.status, res.text).toBe(200);
  return (res.body as HoldBody).id;
}
const holdNow = async (id: string): Promise<HoldBody> => {
  const res = await app.request('GET', `/v1/holds/${id}`, { key: app.keys.read });
  expect(res.status, res.text).toBe(200);
  return res.body as HoldBody;
};
const balances = async (): Promise<{ remaining: string; held: string; consumed: string }> => {
  const res = await app.request('GET', `/v1/clients/${client.id}/balances`, { key: app.keys.read });
  expect(res.status, res.text).toBe(200);
  return (res.body.data as Array<{ credit_type: { code: string }; remaining: string; held: string; consumed: string }>)
    .filter((r) => r.credit_type.code === sms.code)
    .map(({ remaining, held, consumed }) => ({ remaining, held, consumed }))[0]!;
};
const clientPath = () => `/ui/clients/${client.id}`;

beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: NOW });
  sms = await createCreditType(app, { code: 'k-sms', name: 'SMS', unit: 'message' });
  const pack = await createPackage(app, [{ credit_type: sms.code, units: 100 }], { code: 'k-pack' });
  client = await createClient(app, { external_ref: 'k-acme', name: 'Acme <b>Calls</b>' });
  await subscribe(app, client.id, pack.code, { auto_renew: false });
  session = await signInToUi(app.baseUrl, app.keys.admin);
});
afterAll(async () => {
  const report = await verifyInvariants(app.database.db);
  expect(report.violations).toEqual([]);
  await app?.close();
});

describe('capturing a hold from the client page', () => {
  it('captures part after confirming; the rest goes back; the API shows the hold and the balance so', async () => {
    const id = await holdOf(30, 'part');
    expect(await balances()).toEqual({ remaining: '70', held: '30', consumed: '0' });
    const page = await get(clientPath());
    expect(page.text).toContain(`data-action="capture" data-hold="${id}"`);
    expect(page.text).toContain(`data-action="release" data-hold="${id}"`);
    const action = `/ui/holds/${id}/capture`;
    const form = hiddenOf(page.text, action);
    expect(Object.keys(form).sort()).toEqual(['csrf', 'idem']);

    // the form asks first: a page saying what will happen, nothing done
    const ask = await post(action, { ...form, quantity: '12' });
    expect(ask.status, ask.text.slice(0, 800)).toBe(200);
    expect(ask.text).toContain('data-confirm="confirm-capture"');
    expect(readable(ask.text)).toContain(
      'Capture 12 message of the 30 message held for Acme <b>Calls</b> (k-acme)? They are consumed: one ' +
        'consumption, paid by the balances the hold took them from. The other 18 message go back to those balances',
    );
    expect(readable(ask.text)).toContain('Its reference: call part.');
    expect(ask.text).toContain(`href="${clientPath()}" data-action="back"`);
    const confirmed = hiddenOf(ask.text, action);
    expect(confirmed).toEqual({ csrf: form.csrf, confirmed: 'yes', quantity: '12', idem: form.idem });
    expect((await holdNow(id)).status).toBe('held');

    const consumptions = await countRows(app, 'consumptions');
    const done = await post(action, confirmed);
    expect(done.status, done.text.slice(0, 800)).toBe(303);
    expect(done.location).toBe(`${clientPath()}?notice=hold_captured`);
    const hold = await holdNow(id);
    expect(hold).toMatchObject({ status: 'captured', held: '0', captured: '12', released: '18' });
    const consumption = await app.request('GET', `/v1/consumptions/${hold.consumption_id}`, { key: app.keys.read });
    expect(consumption.body).toMatchObject({ status: 'applied', quantity: '12' });
    expect(await balances()).toEqual({ remaining: '88', held: '0', consumed: '12' });
    const after = await get(done.location!);
    expect(after.text).toContain('data-notice="hold_captured"');
    expect(after.text).not.toContain(`data-hold="${id}"`);

    // the button sent twice (a double click, a reload) captured once: the route answers the capture it made
    const again = await post(action, confirmed);
    expect(again.location).toBe(`${clientPath()}?notice=hold_captured`);
    expect(await countRows(app, 'consumptions')).toBe(consumptions + 1);
    expect(await balances()).toEqual({ remaining: '88', held: '0', consumed: '12' });
    // the same command as the API's, recorded as the pages' in the audit trail
    const audited = await app.database.db('audit_events').where({ target_id: id, origin: 'ui' }).select('action');
    expect(audited.map((a: { action: string }) => a.action)).toContain('POST /v1/holds/{id}/capture');
  });

  it('captures all it holds when the quantity is left empty, and says so first', async () => {
    const id = await holdOf(5, 'all');
    const action = `/ui/holds/${id}/capture`;
    const form = hiddenOf((await get(clientPath())).text, action);
    const ask = await post(action, { ...form, quantity: '' });
    expect(ask.status).toBe(200);
    expect(readable(ask.text)).toContain('Capture all 5 message held for Acme <b>Calls</b> (k-acme)?');
    expect(readable(ask.text)).not.toContain('go back to those balances');
    const done = await post(action, hiddenOf(ask.text, action));
    expect(done.location).toBe(`${clientPath()}?notice=hold_captured`);
    expect(await holdNow(id)).toMatchObject({ status: 'captured', captured: '5', released: '0' });
    expect(await balances()).toEqual({ remaining: '83', held: '0', consumed: '17' });
  });
});

describe('releasing a hold from the client page', () => {
  it('releases after confirming: every held unit goes back, nothing is consumed', async () => {
    const id = await holdOf(20, 'release');
    expect(await balances()).toEqual({ remaining: '63', held: '20', consumed: '17' });
    const action = `/ui/holds/${id}/release`;
    const form = hiddenOf((await get(clientPath())).text, action);
    const ask = await post(action, form);
    expect(ask.status, ask.text.slice(0, 800)).toBe(200);
    expect(ask.text).toContain('data-confirm="confirm-release"');
    expect(readable(ask.text)).toContain(
      'Release the 20 message held for Acme <b>Calls</b> (k-acme)? They go back to the balances the hold took ' +
        'them from, and nothing is consumed',
    );
    // in Arabic too, the values aside
    const arabic = await post(`${action}?lang=ar`, form);
    expect(arabic.text).toContain('الإفراج عن هذا الحجز؟');
    expect(readable(arabic.text)).toContain('تعود الوحدات إلى الأرصدة التي أخذها الحجز منها');
    expect((await holdNow(id)).status).toBe('held');

    const done = await post(action, hiddenOf(ask.text, action));
    expect(done.status, done.text.slice(0, 800)).toBe(303);
    expect(done.location).toBe(`${clientPath()}?notice=hold_released`);
    expect(await holdNow(id)).toMatchObject({ status: 'released', held: '0', captured: '0', released: '20' });
    expect(await balances()).toEqual({ remaining: '83', held: '0', consumed: '17' });
    expect((await get(done.location!)).text).toContain('data-notice="hold_released"');
  });
});

describe('a refused capture', () => {
  it('of a hold closed meanwhile shows the refusal (409) in the page’s language and changes nothing', async () => {
    const id = await holdOf(10, 'stale');
    const action = `/ui/holds/${id}/capture`;
    // the page was opened, and its confirmation too, before the hold was released through the API
    const form = hiddenOf((await get(clientPath())).text, action);
    const confirmation = hiddenOf((await post(action, { ...form, quantity: '4' })).text, action);
    const released = await app.request('POST', `/v1/holds/${id}/release`, { key: app.keys.write });
    expect(released.status, released.text).toBe(200);
    const before = { balances: await balances(), consumptions: await countRows(app, 'consumptions') };

    for (const sent of [{ ...form, quantity: '4' }, confirmation]) {
      const res = await post(action, sent);
      expect(res.status, res.text.slice(0, 800)).toBe(409);
      expect(res.text).toContain('data-refusal="conflict"');
      expect(readable(res.text)).toContain('The hold is released: it is no longer open, and nothing was done.');
      expect(res.text).not.toContain('it cannot be captured');
    }
    const arabic = await post(`${action}?lang=ar`, confirmation);
    expect(arabic.status).toBe(409);
    expect(readable(arabic.text)).toContain('الحجز مُفرج عنه: لم يعد مفتوحًا، ولم يُنفَّذ شيء.');
    expect(arabic.text).not.toContain('<span lang="en"');
    expect(await holdNow(id)).toMatchObject({ status: 'released', captured: '0', released: '10' });
    expect({ balances: await balances(), consumptions: await countRows(app, 'consumptions') }).toEqual(before);
  });

  it('of more than the hold holds is told beside the field (422), the quantity kept, nothing done', async () => {
    const id = await holdOf(5, 'beyond');
    const action = `/ui/holds/${id}/capture`;
    const form = hiddenOf((await get(clientPath())).text, action);
    const before = { balances: await balances(), consumptions: await countRows(app, 'consumptions') };
    const cases = [
      ['en', '6', 'More than the hold holds (5 message).'],
      ['en', 'abc', 'Must be a number such as 2.5.'],
      ['en', '0', 'Must be greater than zero.'],
      ['ar', '٦', 'أكثر مما يحجزه الحجز (٥ message).'],
      ['ar', '2.5', 'يجب أن تكون عددًا صحيحًا لنوع الرصيد هذا.'],
    ] as const;
    for (const [lang, quantity, message] of cases) {
      // nothing to confirm: the route refuses it, as it does when the confirmation is sent anyway
      for (const sent of [
        { ...form, quantity },
        { ...form, quantity, confirmed: 'yes' },
      ]) {
        const res = await post(`${action}?lang=${lang}`, sent);
        expect(res.status, `${quantity}: ${res.text.slice(0, 800)}`).toBe(422);
        // refused by the route's schema (`invalid`) or its handler (`validation_failed`): either way beside the field
        expect(res.text).toMatch(/data-refusal="(invalid|validation_failed)"/);
        expect(readable(messageBeside(res.text, 'quantity') ?? '').toLowerCase(), quantity).toContain(
          message.toLowerCase(),
        );
        expect(res.text).toMatch(
          new RegExp(`name="quantity"[^>]*value="${quantity}" aria-invalid="true" aria-describedby="error-quantity"`),
        );
      }
    }
    // the unit is the business's name for it, isolated: a Latin "message" cannot reorder the Arabic sentence around it
    const arabic = await post(`${action}?lang=ar`, { ...form, quantity: '٦' });
    expect(arabic.text).toContain('(<span class="nowrap" data-units="5">٥ <bdi>message</bdi></span>)');
    expect((await holdNow(id)).status).toBe('held');
    expect({ balances: await balances(), consumptions: await countRows(app, 'consumptions') }).toEqual(before);
    const release = hiddenOf((await get(clientPath())).text, `/ui/holds/${id}/release`);
    expect((await post(`/ui/holds/${id}/release`, { ...release, confirmed: 'yes' })).status).toBe(303);
  });

  it('of a credit type with decimals: the units in its decimals, one decimal too many told in Arabic', async () => {
    const voice = await createCreditType(app, { code: 'k-voice', name: 'Voice', unit: 'minute', decimals: 1 });
    const pack = await createPackage(app, [{ credit_type: voice.code, units: '10.5' }], { code: 'k-voice-pack' });
    const caller = await createClient(app, { external_ref: 'k-caller', name: 'Caller' });
    await subscribe(app, caller.id, pack.code, { auto_renew: false });
    const held = await app.request('POST', '/v1/holds?wait=true', {
      key: app.keys.write,
      body: { client: caller.id, credit_type: voice.code, quantity: '2.5', idempotency_key: 'call-1' },
    });
    expect(held.status, held.text).toBe(200);
    const id = (held.body as HoldBody).id;
    const action = `/ui/holds/${id}/capture`;
    const form = hiddenOf((await get(`/ui/clients/${caller.id}`)).text, action);
    const refused = await post(`${action}?lang=ar`, { ...form, quantity: '١٫٢٥' });
    expect(refused.status).toBe(422);
    expect(messageBeside(refused.text, 'quantity')).toBe('لا يقبل نوع الرصيد هذا أكثر من منزلة عشرية واحدة.');
    // Arabic-Indic digits read as a person means them
    const ask = await post(`${action}?lang=ar`, { ...form, quantity: '١٫٥' });
    expect(ask.status, ask.text.slice(0, 800)).toBe(200);
    expect(readable(ask.text)).toContain('تحصيل ١٫٥ minute من المحجوز البالغ ٢٫٥ minute للعميل Caller (k-caller)؟');
    const done = await post(action, hiddenOf(ask.text, action));
    expect(done.location).toBe(`/ui/clients/${caller.id}?notice=hold_captured`);
    expect(await holdNow(id)).toMatchObject({ status: 'captured', captured: '1.5', released: '1' });
  });

  it('answers a hold that does not exist with the 404 page', async () => {
    const csrf = /name="csrf" value="([^"]+)"/.exec((await get(clientPath())).text)?.[1] ?? '';
    for (const id of ['not-a-hold', '0196f1a2-0000-7000-8000-000000000000']) {
      const res = await post(`/ui/holds/${id}/capture`, { csrf });
      expect(res.status).toBe(404);
      expect(res.text).toContain('No such hold.');
    }
  });
});

describe('a client with more open holds than a page shows', () => {
  it('lists the first 100, then links to the rest: each hold the API has open is on one of the two', async () => {
    const busyPack = await createPackage(app, [{ credit_type: sms.code, units: 500 }], { code: 'k-busy-pack' });
    const busy = await createClient(app, { external_ref: 'k-busy', name: 'Busy' });
    await subscribe(app, busy.id, busyPack.code, { auto_renew: false });
    const ids = new Set<string>();
    for (let i = 0; i < 101; i += 1) {
      const res = await app.request('POST', '/v1/holds?wait=true', {
        key: app.keys.write,
        body: { client: busy.external_ref, credit_type: sms.code, quantity: 1, idempotency_key: `busy-${i}` },
      });
      expect(res.status, res.text).toBe(200);
      ids.add((res.body as HoldBody).id);
    }
    const shown = (text: string) => [...text.matchAll(/<tr data-hold="([^"]+)">/g)].map((m) => m[1]!);
    const first = await get(`/ui/clients/${busy.id}`);
    expect(first.status).toBe(200);
    expect(shown(first.text)).toHaveLength(100);
    const next = /<a href="([^"]*holds_cursor=[^"]+)" rel="next">/.exec(first.text)?.[1]?.replaceAll('&amp;', '&');
    expect(next, 'a link to the other open holds').toBeDefined();
    const second = await get(next!);
    expect(second.status).toBe(200);
    expect(new Set([...shown(first.text), ...shown(second.text)])).toEqual(ids);
    // a cursor the page did not give out: the first page, not an error
    expect((await get(`/ui/clients/${busy.id}?holds_cursor=nonsense`)).status).toBe(200);
  });
});

describe('who may close a hold from the pages', () => {
  it('a read or write key sees no client page and cannot post a capture or release; nothing changes', async () => {
    const id = await holdOf(3, 'roles');
    const before = await balances();
    for (const key of [app.keys.read, app.keys.write]) {
      const headers = { authorization: basic(key), cookie: '' };
      expect((await get(clientPath(), headers)).status).toBe(403);
      for (const action of ['capture', 'release'])
        expect((await post(`/ui/holds/${id}/${action}`, { confirmed: 'yes' }, headers)).status).toBe(403);
    }
    // nor can it sign in to have a session of its own
    const login = await fetch(`${app.baseUrl}/ui/login`);
    const loginCookie = login.headers
      .getSetCookie()
      .find((c) => c.startsWith('credits_ui_login='))!
      .split(';')[0]!;
    const csrf = /name="csrf" value="([^"]+)"/.exec(await login.text())?.[1] ?? '';
    const refused = await fetch(`${app.baseUrl}/ui/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: loginCookie },
      body: new URLSearchParams({ csrf, key: app.keys.read, next: '/ui' }).toString(),
      redirect: 'manual',
    });
    expect(refused.status).toBe(401);
    expect(refused.headers.getSetCookie().some((c) => c.startsWith('credits_ui='))).toBe(false);
    // an admin's session without the form's token is refused too (CSRF)
    expect((await post(`/ui/holds/${id}/release`, { confirmed: 'yes' })).status).toBe(403);
    expect(await holdNow(id)).toMatchObject({ status: 'held', held: '3' });
    expect(await balances()).toEqual(before);
  });
});
