import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';
import { signInToUi, uiPage } from '../helpers/ui-session.js';

/**
 * What a business person's walk through the back office found, over plain HTTP: each test posts a
 * form as the page renders it and reads what the API then holds.
 */
const NOW = '2026-03-02T09:00:00.000Z';
let app: TestApp;
let session: string;
let pack: { id: string };
let hours: { id: string };

/** Posts the form whose action is `action`, with the fields the page rendered in it (a double click sends it again). */
async function postForm(html: string, action: string, extra: Record<string, string> = {}) {
  const form = new RegExp(`<form[^>]*action="${action}"[^>]*>(.*?)</form>`, 's').exec(html)?.[1];
  expect(form, `a form posting to ${action}`).toBeDefined();
  const fields = Object.fromEntries(
    [...form!.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1]!, m[2]!]),
  );
  const res = await fetch(`${app.baseUrl}${action}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: session, origin: app.baseUrl },
    body: new URLSearchParams({ ...fields, ...extra }).toString(),
    redirect: 'manual',
  });
  return { status: res.status, location: res.headers.get('location') };
}

beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: NOW });
  const sms = await createCreditType(app, { code: 'w-sms', unit: 'message' });
  const support = await createCreditType(app, { code: 'w-support', unit: 'hour', decimals: 2 });
  pack = await createPackage(app, [{ credit_type: sms.code, units: 1000 }], { code: 'w-gold', price: 45125 });
  hours = await createPackage(app, [{ credit_type: support.code, units: '10.5' }], { code: 'w-hours' });
  session = await signInToUi(app.baseUrl, app.keys.admin);
});
afterAll(async () => {
  await app?.close();
});

describe('the client page acts once per form', () => {
  it('renews once when the Renew form is sent twice (a double click or a reload)', async () => {
    const client = await createClient(app, { external_ref: 'w-renew' });
    const sub = await subscribe(app, client.id, pack.id);
    const page = await uiPage(app.baseUrl, session, `/ui/clients/${client.id}`);
    const action = `/ui/subscriptions/${sub.id}/renew`;
    // the form asks first (a page, nothing renewed); its button sends the same one-time key, confirmed
    expect(await postForm(page.html, action)).toEqual({ status: 200, location: null });
    for (let i = 0; i < 2; i++) {
      const res = await postForm(page.html, action, { confirmed: 'yes' });
      expect(res).toEqual({ status: 303, location: `/ui/clients/${client.id}?notice=renewed` });
    }
    const after = await app.request('GET', `/v1/subscriptions/${sub.id}`, { key: app.keys.read });
    expect(after.body.renewal_count).toBe(1);
    const invoices = await app.request('GET', `/v1/invoices?subscription=${sub.id}`, { key: app.keys.read });
    expect(invoices.body.data).toHaveLength(2);
  });

  it('says "frozen" and then "unfrozen" when each form is sent twice, having acted once', async () => {
    const sms = await createCreditType(app, { code: 'w-sms-ff', unit: 'message' });
    const frozen = await createPackage(app, [{ credit_type: sms.code, units: 100 }], { max_freeze_days: 10 });
    const client = await createClient(app, { external_ref: 'w-freeze-twice' });
    const sub = await subscribe(app, client.id, frozen.id);
    for (const [action, notice] of [
      ['freeze', 'frozen'],
      ['unfreeze', 'unfrozen'],
    ] as const) {
      const page = await uiPage(app.baseUrl, session, `/ui/clients/${client.id}`);
      for (let i = 0; i < 2; i++) {
        const res = await postForm(page.html, `/ui/subscriptions/${sub.id}/${action}`, { days: '3' });
        expect(res).toEqual({ status: 303, location: `/ui/clients/${client.id}?notice=${notice}` });
      }
    }
    const after = await app.request('GET', `/v1/subscriptions/${sub.id}`, { key: app.keys.read });
    expect(after.body.status).toBe('active');
  });
});

describe('the consumption page reads as a record, not a form', () => {
  it('labels when it occurred and its reference without the form\'s "(optional)", in English and Arabic', async () => {
    const client = await createClient(app, { external_ref: 'w-use' });
    await subscribe(app, client.id, pack.id);
    const use = await app.request('POST', '/v1/consumptions?wait=true', {
      body: { client: client.id, credit_type: 'w-sms', quantity: 25, idempotency_key: 'w-use-1', reference: 'job 7' },
    });
    expect(use.status, use.text).toBe(200);
    const en = await uiPage(app.baseUrl, session, `/ui/consumptions/${use.body.id}?lang=en`);
    expect(en.html).toContain('<dt>Occurred at</dt>');
    expect(en.html).toContain('<dt>Reference</dt>');
    expect(en.html).not.toMatch(/<dt>[^<]*\(optional\)<\/dt>/);
    const ar = await uiPage(app.baseUrl, session, `/ui/consumptions/${use.body.id}?lang=ar`);
    expect(ar.html).toContain('<dt>وقت الاستهلاك</dt>');
    expect(ar.html).toContain('<dt>المرجع</dt>');
    expect(ar.html).not.toMatch(/<dt>[^<]*\(اختياري\)<\/dt>/);
  });
});

describe('the overview speaks exact sums', () => {
  it('a consumption chart tells a screen reader the exact total, not the axis rounding (2.25, not 2.3)', async () => {
    const client = await createClient(app, { external_ref: 'w-hours' });
    await subscribe(app, client.id, hours.id);
    for (const [key, quantity] of [
      ['w-h-1', '1.5'],
      ['w-h-2', '0.75'],
    ] as const) {
      const use = await app.request('POST', '/v1/consumptions?wait=true', {
        body: { client: client.id, credit_type: 'w-support', quantity, idempotency_key: key },
      });
      expect(use.status, use.text).toBe(200);
    }
    const en = await uiPage(app.baseUrl, session, '/ui?lang=en');
    // the chart's names isolated (U+2068 … U+2069): a label holds no <bdi>
    expect(en.html).toContain('aria-label="\u2068w-support\u2069: 2.25 \u2068hour\u2069 in 30 bars"');
    const ar = await uiPage(app.baseUrl, session, '/ui?lang=ar');
    expect(ar.html).toMatch(/aria-label="\u2068w-support\u2069: ٢٫٢٥ \u2068hour\u2069 [^"]*"/);
  });
});

describe('a refused consumption in Arabic', () => {
  it('tells a fractional use of a whole-number type in Arabic only, above the form and beside the field', async () => {
    const client = await createClient(app, { external_ref: 'w-whole' });
    await subscribe(app, client.id, pack.id);
    const form = await uiPage(app.baseUrl, session, `/ui/clients/${client.id}/consume?lang=ar`);
    const action = `/ui/clients/${client.id}/consume`;
    const formHtml = form.html.replace(/<form[^>]*action="\/ui\/logout"[^>]*>.*?<\/form>/s, '');
    const csrf = /name="csrf" value="([^"]+)"/.exec(formHtml)![1]!;
    const idem = /name="idem" value="([^"]+)"/.exec(formHtml)![1]!;
    const res = await fetch(`${app.baseUrl}${action}?lang=ar`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: session, origin: app.baseUrl },
      body: new URLSearchParams({ csrf, idem, credit_type: 'w-sms', quantity: '١٠٫٥', action: 'register' }).toString(),
    });
    const html = await res.text();
    expect(res.status).toBe(422);
    expect(html).toContain('<p class="field-error" id="error-quantity" role="alert">يجب أن تكون عددًا صحيحًا');
    const block = /<div class="notice error" role="alert"[^>]*>(.*?)<\/div>/s.exec(html)?.[1];
    expect(block).toBe('بعض الحقول تحتاج إلى قيمة أخرى؛ انظر الرسائل بجانبها.');
  });
});

describe('a list given a cursor it never gave out', () => {
  it('goes back to the list from the start (303) rather than failing with a 500', async () => {
    const lists = ['/ui/clients?search=w-', '/ui/invoices?status=issued', '/ui/packages', '/ui/credit-types'];
    for (const list of [...lists, '/ui/webhooks', '/ui/api-keys']) {
      const sep = list.includes('?') ? '&' : '?';
      const res = await fetch(`${app.baseUrl}${list}${sep}cursor=zzz`, {
        headers: { accept: 'text/html', cookie: session },
        redirect: 'manual',
      });
      expect({ list, status: res.status, location: res.headers.get('location') }).toEqual({
        list,
        status: 303,
        location: list,
      });
      expect((await uiPage(app.baseUrl, session, list)).status).toBe(200);
    }
  });
});

describe('the statement in Arabic', () => {
  it("says the service's own reasons in Arabic: a renewal a freeze took back, balances of a cancellation", async () => {
    const sms = await createCreditType(app, { code: 'w-sms-f', unit: 'message' });
    const frozen = await createPackage(app, [{ credit_type: sms.code, units: 100 }], { max_freeze_days: 10 });
    const client = await createClient(app, { external_ref: 'w-reasons' });
    const first = await subscribe(app, client.id, frozen.id);
    const renew = await app.request('POST', `/v1/subscriptions/${first.id}/renew?wait=true`);
    expect(renew.status, renew.text).toBe(200);
    const freeze = await app.request('POST', `/v1/subscriptions/${first.id}/freeze`, { body: { days: 3 } });
    expect(freeze.status, freeze.text).toBe(200);
    const second = await subscribe(app, client.id, frozen.id);
    const cancel = await app.request('POST', `/v1/subscriptions/${second.id}/cancel`, { body: { at: 'now' } });
    expect(cancel.status, cancel.text).toBe(200);

    const ar = await uiPage(app.baseUrl, session, `/ui/clients/${client.id}?lang=ar`);
    expect(ar.html).toContain('أُلغي التجديد المسبق: جُمّد الاشتراك قبل انتهاء فترته');
    expect(ar.html).toContain('<td>أُلغي الاشتراك</td>');
    expect(ar.html).not.toContain('the renewal made ahead was taken back');
    expect(ar.html).not.toContain('subscription cancelled');
    const en = await uiPage(app.baseUrl, session, `/ui/clients/${client.id}?lang=en`);
    expect(en.html).toContain('the renewal made ahead was taken back: the subscription was frozen before its period');
  });
});

describe('the statement in the order it was written', () => {
  it('shows when each entry was recorded, and when it counts where that differs (a use reported late)', async () => {
    const client = await createClient(app, { external_ref: 'w-late' });
    await subscribe(app, client.id, pack.id);
    // two hours on: the late use happened an hour after the subscription began, reported an hour after that
    const now = app.clock.now().getTime();
    app.clock.set(new Date(now + 2 * 3_600_000).toISOString());
    const occurred = new Date(now + 3_600_000).toISOString();
    for (const [key, extra] of [
      ['w-late-1', { occurred_at: occurred }],
      ['w-late-2', {}],
    ] as const) {
      const use = await app.request('POST', '/v1/consumptions?wait=true', {
        body: { client: client.id, credit_type: 'w-sms', quantity: 5, idempotency_key: key, ...extra },
      });
      expect(use.status, use.text).toBe(200);
    }
    const en = await uiPage(app.baseUrl, session, `/ui/clients/${client.id}?lang=en`);
    const table = /<h2 id="stmt-h">.*?<\/table>/s.exec(en.html)![0];
    expect(table).toContain('<th>Recorded</th><th>Counts at</th>');
    const rows = [...table.matchAll(/<tr>\s*<td class="nowrap">(.*?)<\/td>\s*<td class="nowrap">(.*?)<\/td>/gs)];
    // the grant, the late use (counts an hour before it was recorded), the other use
    expect(rows).toHaveLength(3);
    expect(rows.filter((r) => r[2]!.includes('when recorded'))).toHaveLength(2);
    const late = rows.find((r) => !r[2]!.includes('when recorded'))!;
    expect(late[2]).not.toEqual(late[1]);
    const ar = await uiPage(app.baseUrl, session, `/ui/clients/${client.id}?lang=ar`);
    expect(ar.html).toContain('<th>سُجّل في</th><th>يُحتسب في</th>');
    expect(ar.html).toContain('عند تسجيله');
  });
});

describe('a removal larger than the balance', () => {
  it('says how much it cannot lose without a minus sign, in English and Arabic', async () => {
    const client = await createClient(app, { external_ref: 'w-adjust' });
    const sub = await subscribe(app, client.id, pack.id);
    const balance = sub.balances[0]!.id;
    for (const [lang, expected] of [
      // the unit, a name the business typed, isolated from the sentence (a Latin one in an Arabic sentence)
      ['en', 'it cannot lose <span class="nowrap" data-units="2000">2,000 <bdi>message</bdi></span>.'],
      ['ar', 'لا يمكن خصم <span class="nowrap" data-units="2000">٢٬٠٠٠ <bdi>message</bdi></span> منه.'],
    ] as const) {
      const form = await uiPage(app.baseUrl, session, `/ui/balances/${balance}/adjust?lang=${lang}`);
      const html = form.html.replace(/<form[^>]*action="\/ui\/logout"[^>]*>.*?<\/form>/s, '');
      const csrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
      const idem = /name="idem" value="([^"]+)"/.exec(html)![1]!;
      const res = await fetch(`${app.baseUrl}/ui/balances/${balance}/adjust?lang=${lang}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: session, origin: app.baseUrl },
        body: new URLSearchParams({ csrf, idem, delta: '-2000', reason: 'too much' }).toString(),
      });
      expect(res.status).toBe(422);
      expect(await res.text()).toContain(expected);
    }
  });
});

describe('the overview names its columns as the Arabic page does', () => {
  it('heads the nearly consumed meter "Left of granted" (not "held", the word for open holds)', async () => {
    const client = await createClient(app, { external_ref: 'w-nearly' });
    await subscribe(app, client.id, pack.id);
    const use = await app.request('POST', '/v1/consumptions?wait=true', {
      body: { client: client.id, credit_type: 'w-sms', quantity: 900, idempotency_key: 'w-nearly-1' },
    });
    expect(use.status, use.text).toBe(200);
    const en = await uiPage(app.baseUrl, session, '/ui?lang=en');
    expect(en.html).toContain('<th>Left of granted</th>');
    expect(en.html).not.toContain('Left of held');
  });
});
