import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapeHtml } from '../../src/ui/html.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { countRows, createClient, createCreditType, createPackage } from '../helpers/fixtures.js';
import { uiGet, uiPost } from '../helpers/ui-session.js';

/**
 * The operator's daily work in the pages over plain HTTP (issue 18): sell a subscription and read its
 * invoice, cancel, suspend and resume it; quote a consumption, register it and read which balances paid,
 * reverse it; adjust a balance with a reason; list, pay and void invoices. Every form posts through the
 * API's own routes, with the workers running; after each step the API must agree with the page.
 */
const NOW = '2026-05-10T09:00:00.000Z';
let app: TestApp;
let session: string;
let sms: { id: string; code: string };
let pack: { id: string; code: string };
let archived: { id: string; code: string };
let client: { id: string; external_ref: string };

const get = (path: string, headers: Record<string, string> = {}) => uiGet(app.baseUrl, session, path, headers);
const post = (path: string, form: Record<string, string>, headers: Record<string, string> = {}) =>
  uiPost(app.baseUrl, session, path, form, headers);

const cookieValue = (cookies: string[], name: string): string | undefined =>
  cookies
    .find((c) => c.startsWith(`${name}=`))
    ?.split(';')[0]
    ?.slice(name.length + 1);
/** The text of the message beside a field (`<p class="field-error" id="error-<field>">`), tags dropped. */
const messageBeside = (html: string, field: string): string | undefined =>
  new RegExp(`<p class="field-error" id="error-${field}" role="alert">(.*?)</p>`, 's')
    .exec(html)?.[1]
    ?.replace(/<[^>]+>/g, '');
const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
const idemOf = (html: string) => /name="idem" value="([^"]+)"/.exec(html)?.[1] ?? '';
/** The hidden fields of a confirmation page's form (csrf, confirmed, the values carried), as its button sends them. */
const hiddenOf = (html: string): Record<string, string> =>
  Object.fromEntries(
    [...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1]!, m[2]!]),
  );
/** The text a person reads on a page: tags dropped, entities of the escaper undone, spaces collapsed. */
const readable = (html: string): string =>
  html
    .replace(/<[^>]+>/g, '')
    .replaceAll('&#39;', "'")
    .replaceAll('&quot;', '"')
    .replaceAll('&amp;', '&')
    .replace(/\s+/g, ' ');

/** Signs in through the login form; the session cookie. */
async function signIn(): Promise<string> {
  const form = await fetch(`${app.baseUrl}/ui/login`, { redirect: 'manual' });
  const login = cookieValue(form.headers.getSetCookie(), 'credits_ui_login')!;
  const res = await fetch(`${app.baseUrl}/ui/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `credits_ui_login=${login}` },
    body: new URLSearchParams({ csrf: csrfOf(await form.text()), key: app.keys.admin, next: '/ui' }).toString(),
    redirect: 'manual',
  });
  expect(res.status).toBe(303);
  return `credits_ui=${cookieValue(res.headers.getSetCookie(), 'credits_ui')}`;
}

/** A form page's CSRF token and one-time key. */
async function formOf(path: string): Promise<{ csrf: string; idem: string; text: string }> {
  const page = await get(path);
  expect(page.status, page.text.slice(0, 500)).toBe(200);
  return { csrf: csrfOf(page.text), idem: idemOf(page.text), text: page.text };
}

const usd = (minor: number) =>
  new Intl.NumberFormat('en-GB', { style: 'currency', currency: 'USD', currencyDisplay: 'code' }).format(minor / 100);

/** Sells `pkg` to `who` through the form; the new subscription's id. */
async function sell(who: string, pkg: string, extra: Record<string, string> = {}): Promise<string> {
  const { csrf, idem } = await formOf(`/ui/clients/${who}/sell`);
  const res = await post(`/ui/clients/${who}/sell`, { csrf, idem, package: pkg, ...extra });
  expect(res.status, res.text.slice(0, 800)).toBe(303);
  const id = /^\/ui\/subscriptions\/([0-9a-f-]{36})\?notice=subscription_sold$/.exec(res.location ?? '')?.[1];
  expect(id, res.location ?? '').toBeDefined();
  return id!;
}

const remainingOf = async (who: string, creditType: string): Promise<string> => {
  const res = await app.request('GET', `/v1/clients/${who}/balances`, { key: app.keys.read });
  expect(res.status).toBe(200);
  const row = (res.body.data as Array<{ credit_type: { code: string }; remaining: string }>).find(
    (r) => r.credit_type.code === creditType,
  );
  return row?.remaining ?? '0';
};

beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: NOW });
  sms = await createCreditType(app, { code: 'c-sms', name: 'SMS', unit: 'message', dimensions: ['branch'] });
  pack = await createPackage(app, [{ credit_type: sms.code, units: 100 }], {
    code: 'c-pack',
    name: 'Starter <b>SMS</b>',
    price: 4900,
  });
  archived = await createPackage(app, [{ credit_type: sms.code, units: 5 }], { code: 'c-old', name: 'Old pack' });
  const archive = await app.request('PATCH', `/v1/packages/${archived.id}`, { body: { status: 'archived' } });
  expect(archive.status, archive.text).toBe(200);
  client = await createClient(app, { external_ref: 'c-acme', name: '<img src=x onerror=alert(1)> Acme' });
  session = await signIn();
});
afterAll(async () => {
  await app?.close();
});

describe('selling a subscription', () => {
  it('offers the active packages only, and the client page links to the sale and the consumption forms', async () => {
    const page = await get(`/ui/clients/${client.id}`);
    expect(page.text).toContain(`href="/ui/clients/${client.id}/sell"`);
    expect(page.text).toContain(`href="/ui/clients/${client.id}/consume"`);
    const form = await formOf(`/ui/clients/${client.id}/sell`);
    expect(form.text).toContain(`<option value="${pack.id}" dir="auto">`);
    expect(form.text).not.toContain(archived.id);
    expect(form.text).not.toContain('<img src=x');
    expect(form.text).not.toContain('<b>SMS</b>');
    expect(form.idem).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('names each package’s validity in its calendar, as the packages pages do', async () => {
    const hijri = await createPackage(app, [{ credit_type: sms.code, units: 10 }], {
      code: 'c-ramadan',
      name: 'Ramadan',
      validity: { count: 1, unit: 'month', calendar: 'islamic-umalqura' },
    });
    const option = (text: string, id: string) =>
      new RegExp(`<option value="${id}" dir="auto">[^<]*</option>`).exec(text)?.[0];
    const en = (await get(`/ui/clients/${client.id}/sell`)).text;
    expect(option(en, hijri.id)).toContain('1 Hijri month');
    expect(option(en, pack.id)).toMatch(/· 1 month<\/option>$/);
    const ar = (await get(`/ui/clients/${client.id}/sell?lang=ar`)).text;
    expect(option(ar, hijri.id)).toContain('شهر هجري واحد');
    const archive = await app.request('PATCH', `/v1/packages/${hijri.id}`, { body: { status: 'archived' } });
    expect(archive.status, archive.text).toBe(200);
  });

  it('sells with its own price and shows the subscription with its invoice; the API agrees', async () => {
    const { csrf, idem } = await formOf(`/ui/clients/${client.id}/sell`);
    const form = { csrf, idem, package: pack.id, price: '39.50', auto_renew: 'no', activation: 'immediate' };
    const res = await post(`/ui/clients/${client.id}/sell`, form);
    expect(res.status, res.text.slice(0, 800)).toBe(303);
    const subscriptionId = /^\/ui\/subscriptions\/([0-9a-f-]{36})\?notice=subscription_sold$/.exec(res.location!)![1]!;
    // the same form sent again (a double click) sells once
    const again = await post(`/ui/clients/${client.id}/sell`, form);
    expect(again.location).toBe(res.location);

    const listed = await app.request('GET', `/v1/subscriptions?client=${client.external_ref}`, { key: app.keys.read });
    expect(listed.body.data).toHaveLength(1);
    expect(listed.body.data[0]).toMatchObject({
      id: subscriptionId,
      status: 'active',
      price: 3950,
      price_source: 'subscription',
      auto_renew: false,
    });
    const invoices = await app.request('GET', `/v1/invoices?subscription=${subscriptionId}`, { key: app.keys.read });
    expect(invoices.body.data).toHaveLength(1);
    const invoice = invoices.body.data[0];
    expect(invoice).toMatchObject({ kind: 'subscription', status: 'issued', total: 3950, currency: 'USD' });

    const page = await get(res.location!);
    expect(page.status).toBe(200);
    expect(page.text).toContain('data-notice="subscription_sold"');
    expect(page.text).toContain(`data-number="${invoice.number}"`);
    expect(page.text).toContain(`data-invoice-total="3950"`);
    expect(page.text).toContain(usd(3950));
    // escaped, its period kept left to right
    const line = escapeHtml(invoice.lines[0].description);
    expect(page.text).toContain(line.replace(/(\d{4}-\d{2}-\d{2} → \d{4}-\d{2}-\d{2})/, '<bdi dir="ltr">$1</bdi>'));
    expect(page.text).toContain('data-status="issued"');
    const balance = listed.body.data[0].balances[0];
    expect(page.text).toContain(`href="/ui/balances/${balance.id}/adjust"`);
    expect(page.text).not.toContain('<img src=x');
  });

  it('answers bad input with the message beside the field (422), the values kept, nothing sold', async () => {
    const before = await countRows(app, 'subscriptions');
    const { csrf, idem } = await formOf(`/ui/clients/${client.id}/sell`);
    const bad = await post(`/ui/clients/${client.id}/sell`, { csrf, idem, package: pack.id, price: 'lots' });
    expect(bad.status).toBe(422);
    expect(bad.text).toMatch(
      /name="price" value="lots"[^>]*aria-invalid="true" aria-describedby="error-price hint-price"/,
    );
    expect(bad.text).toContain('id="error-price"');
    expect(bad.text).toContain(`<option value="${pack.id}" dir="auto" selected>`);
    // what was typed is told in the currency's terms, not the route's "whole number of minor units"
    expect(messageBeside(bad.text, 'price')).toBe(
      'Write an amount such as 49.00, with digits and at most 2 decimal places for this currency.',
    );
    const tooFine = await post(`/ui/clients/${client.id}/sell`, { csrf, idem, package: pack.id, price: '١٢٫٣٤٥' });
    expect(tooFine.status).toBe(422);
    expect(messageBeside(tooFine.text, 'price')).toMatch(/at most 2 decimal places/);
    // a price above the largest amount, refused with the bound in dollars; 15 digits of them are not sold as cents
    for (const price of ['20000000000000', '100000000000000']) {
      const tooMuch = await post(`/ui/clients/${client.id}/sell`, { csrf, idem, package: pack.id, price });
      expect(tooMuch.status, price).toBe(422);
      expect(messageBeside(tooMuch.text, 'price')).toBe('Must be at most 10,000,000,000,000.00.');
    }
    const noPackage = await post(`/ui/clients/${client.id}/sell`, { csrf, idem, package: '', starts_at: 'soon' });
    expect(noPackage.status).toBe(422);
    expect(messageBeside(noPackage.text, 'package')).toBe('Required.');
    expect(noPackage.text).toContain('id="error-starts_at"');
    // a package that is no longer sold: the domain's refusal, said plainly (409), never a 500
    const old = await post(`/ui/clients/${client.id}/sell`, { csrf, idem, package: archived.id });
    expect(old.status).toBe(409);
    expect(old.text).toContain('data-refusal="conflict"');
    expect(old.text).toContain('archived');
    expect(await countRows(app, 'subscriptions')).toBe(before);
  });

  it('suspends, resumes, and cancels at period end then now, as the API offers it', async () => {
    const id = await sell(client.id, pack.id);
    const csrf = csrfOf((await get(`/ui/subscriptions/${id}`)).text);
    const suspended = await post(`/ui/subscriptions/${id}/status`, { csrf, status: 'suspended' });
    expect(suspended.location).toBe(`/ui/subscriptions/${id}?notice=subscription_suspended`);
    expect((await app.request('GET', `/v1/subscriptions/${id}`)).body.status).toBe('suspended');
    const page = await get(suspended.location!);
    expect(page.text).toContain('data-action="resume"');
    const resumed = await post(`/ui/subscriptions/${id}/status`, { csrf, status: 'active' });
    expect(resumed.location).toBe(`/ui/subscriptions/${id}?notice=subscription_resumed`);
    expect((await app.request('GET', `/v1/subscriptions/${id}`)).body.status).toBe('active');

    // each cancel asks first, nothing done, the values typed carried to the page's button
    const ask = await post(`/ui/subscriptions/${id}/cancel`, { csrf, at: 'period_end', reason: 'moving' });
    expect(ask.status).toBe(200);
    expect(ask.text).toContain('data-confirm="confirm-cancel"');
    expect(readable(ask.text)).toContain('Its units stay usable until then; it is not renewed.');
    expect(ask.text).not.toContain('This cannot be undone.');
    expect(hiddenOf(ask.text)).toEqual({ csrf, confirmed: 'yes', at: 'period_end', reason: 'moving' });
    expect(ask.text).toContain(`href="/ui/subscriptions/${id}" data-action="back"`);
    expect((await app.request('GET', `/v1/subscriptions/${id}`)).body.cancel_at_period_end).toBe(false);
    const scheduled = await post(`/ui/subscriptions/${id}/cancel`, hiddenOf(ask.text));
    expect(scheduled.location).toBe(`/ui/subscriptions/${id}?notice=subscription_cancel_scheduled`);
    expect((await app.request('GET', `/v1/subscriptions/${id}`)).body).toMatchObject({
      status: 'active',
      cancel_at_period_end: true,
    });
    const askNow = await post(`/ui/subscriptions/${id}/cancel`, { csrf, at: 'now' });
    expect(askNow.status).toBe(200);
    expect(readable(askNow.text)).toContain('Its remaining units are voided at once and can no longer be used');
    expect(askNow.text).toContain('This cannot be undone.');
    expect(hiddenOf(askNow.text)).toEqual({ csrf, confirmed: 'yes', at: 'now' });
    expect((await app.request('GET', `/v1/subscriptions/${id}`)).body.status).toBe('active');
    const now = await post(`/ui/subscriptions/${id}/cancel`, { csrf, at: 'now', confirmed: 'yes' });
    expect(now.location).toBe(`/ui/subscriptions/${id}?notice=subscription_cancelled`);
    expect((await app.request('GET', `/v1/subscriptions/${id}`)).body.status).toBe('cancelled');
    // what its state does not allow: said plainly (409), the page still there
    const refused = await post(`/ui/subscriptions/${id}/status`, { csrf, status: 'suspended' });
    expect(refused.status).toBe(409);
    expect(refused.text).toContain('data-refusal="conflict"');
    const nonsense = await post(`/ui/subscriptions/${id}/status`, { csrf, status: 'asleep' });
    expect(nonsense.status).toBe(422);
    expect((await app.request('GET', `/v1/subscriptions/${id}`)).body.status).toBe('cancelled');
  });

  it('says, before cancelling a subscription not started, that it goes now, whatever "at" was chosen', async () => {
    // the route cancels a pending subscription at once either way (no period runs): the page must not promise a
    // cancel at its period's end with its units usable until then, nor leave out that it cannot be undone
    const id = await sell(client.id, pack.id, { activation: 'on_payment' });
    expect((await app.request('GET', `/v1/subscriptions/${id}`)).body.status).toBe('pending');
    const csrf = csrfOf((await get(`/ui/subscriptions/${id}`)).text);
    const ask = await post(`/ui/subscriptions/${id}/cancel`, { csrf, at: 'period_end' });
    expect(ask.status).toBe(200);
    expect(readable(ask.text)).not.toContain('Its units stay usable until then');
    expect(readable(ask.text)).toContain('Cancel this subscription now?');
    expect(ask.text).toContain('This cannot be undone.');
    expect((await app.request('GET', `/v1/subscriptions/${id}`)).body.status).toBe('pending');
    const done = await post(`/ui/subscriptions/${id}/cancel`, hiddenOf(ask.text));
    expect(done.location).toBe(`/ui/subscriptions/${id}?notice=subscription_cancelled`);
    expect((await app.request('GET', `/v1/subscriptions/${id}`)).body.status).toBe('cancelled');
  });

  it('says, before a cancel at period end of a subscription renewed ahead, that an unpaid renewal goes', async () => {
    // the route takes back a renewal made ahead and not paid: the subscription ends when the period running now
    // does, not at the end of the renewed one the subscription shows as current
    const id = await sell(client.id, pack.id);
    const running = (await app.request('GET', `/v1/subscriptions/${id}`)).body;
    const renewed = await app.request('POST', `/v1/subscriptions/${id}/renew?wait=true`, { body: {} });
    expect(renewed.status, renewed.text).toBe(200);
    expect(renewed.body.period_start).toBe(running.current_period_end);
    const csrf = csrfOf((await get(`/ui/subscriptions/${id}`)).text);
    const ask = await post(`/ui/subscriptions/${id}/cancel`, { csrf, at: 'period_end' });
    expect(ask.status).toBe(200);
    expect(readable(ask.text)).toContain('It has been renewed ahead, for');
    expect(readable(ask.text)).toContain('if that renewal is not paid, it is taken back');
    const done = await post(`/ui/subscriptions/${id}/cancel`, hiddenOf(ask.text));
    expect(done.location).toBe(`/ui/subscriptions/${id}?notice=subscription_cancel_scheduled`);
    // not paid: taken back, the subscription ends with the period that was running
    expect((await app.request('GET', `/v1/subscriptions/${id}`)).body).toMatchObject({
      cancel_at_period_end: true,
      current_period_end: running.current_period_end,
    });
  });

  it('after a form sent again with other values (409), gives it a new key: sent again, it acts', async () => {
    // the Back button after a sale, a value changed, sent again: the route refuses the key with another body; the
    // page says "it has a new key now, send it again", and so it must be, or every send meets the same refusal
    const { csrf, idem } = await formOf(`/ui/clients/${client.id}/sell`);
    const first = await post(`/ui/clients/${client.id}/sell`, { csrf, idem, package: pack.id });
    expect(first.status).toBe(303);
    const changed = await post(`/ui/clients/${client.id}/sell`, { csrf, idem, package: pack.id, price: '12' });
    expect(changed.status).toBe(409);
    expect(changed.text).toContain('data-refusal="idempotency_conflict"');
    expect(idemOf(changed.text)).not.toBe(idem);
    const again = await post(`/ui/clients/${client.id}/sell`, {
      csrf,
      idem: idemOf(changed.text),
      package: pack.id,
      price: '12',
    });
    expect(again.status, again.text.slice(0, 500)).toBe(303);
    const soldId = /^\/ui\/subscriptions\/([0-9a-f-]{36})\?/.exec(again.location ?? '')?.[1];
    const sold = (await app.request('GET', `/v1/subscriptions/${soldId}`)).body;
    expect(sold.price).toBe(1200);

    // the same with an adjustment of a balance
    const balanceId = (await app.request('GET', `/v1/subscriptions/${sold.id}`)).body.balances[0].id as string;
    const adjust = await formOf(`/ui/balances/${balanceId}/adjust`);
    const fields = { csrf: adjust.csrf, idem: adjust.idem, reason: 'goodwill' };
    expect((await post(`/ui/balances/${balanceId}/adjust`, { ...fields, delta: '5' })).status).toBe(303);
    const other = await post(`/ui/balances/${balanceId}/adjust`, { ...fields, delta: '7' });
    expect(other.status).toBe(409);
    expect(idemOf(other.text)).not.toBe(adjust.idem);
    const resent = await post(`/ui/balances/${balanceId}/adjust`, { ...fields, idem: idemOf(other.text), delta: '7' });
    expect(resent.status, resent.text.slice(0, 500)).toBe(303);
    const balance = (await app.request('GET', `/v1/balances/${balanceId}`, { key: app.keys.read })).body;
    expect(balance.remaining).toBe('112');
  });

  it('answers 404 pages for what does not exist', async () => {
    for (const path of [
      '/ui/subscriptions/nope',
      `/ui/subscriptions/${client.id}`,
      '/ui/clients/nobody/sell',
      '/ui/clients/nobody/consume',
      '/ui/consumptions/nope',
      '/ui/balances/nope/adjust',
      '/ui/invoices/nope',
    ]) {
      const page = await get(path);
      expect(page.status, path).toBe(404);
    }
  });
});

describe('consumption: quote, register, refuse, reverse', () => {
  let buyer: { id: string; external_ref: string };
  let consumptionId: string;

  beforeAll(async () => {
    buyer = await createClient(app, { external_ref: 'c-buyer', name: 'Buyer' });
    await sell(buyer.id, pack.id);
  });

  it('quotes without writing: which balances, how much each, what is left', async () => {
    const { csrf, idem } = await formOf(`/ui/clients/${buyer.id}/consume`);
    const counts = [await countRows(app, 'consumptions'), await countRows(app, 'ledger_entries')];
    const quoted = await post(`/ui/clients/${buyer.id}/consume`, {
      csrf,
      idem,
      action: 'quote',
      credit_type: sms.code,
      quantity: '30',
    });
    expect(quoted.status).toBe(200);
    const api = await app.request('POST', '/v1/consumptions/quote', {
      key: app.keys.read,
      body: { client: buyer.id, credit_type: sms.code, quantity: 30 },
    });
    expect(api.body).toMatchObject({ would: 'apply', applied: '30', remaining: '70' });
    const [allocation] = api.body.allocations;
    expect(quoted.text).toContain(`data-allocation="${allocation.balance_id}" data-amount="30"`);
    expect(quoted.text).toContain('data-quote-remaining="70"');
    expect(quoted.text).toContain('data-quote-verdict="apply"');
    // the form comes back as it was sent, with the same one-time key
    expect(idemOf(quoted.text)).toBe(idem);
    expect(quoted.text).toMatch(/name="quantity" value="30"/);
    expect([await countRows(app, 'consumptions'), await countRows(app, 'ledger_entries')]).toEqual(counts);
    expect(await remainingOf(buyer.id, sms.code)).toBe('100');
  });

  it('registers with the worker; the allocation shown is GET /v1/consumptions/{id}; twice is once', async () => {
    const { csrf, idem } = await formOf(`/ui/clients/${buyer.id}/consume`);
    const form = {
      csrf,
      idem,
      action: 'register',
      credit_type: sms.code,
      quantity: '٣٠', // Arabic-Indic digits, as an Arabic keyboard types them
      'dim.branch': 'Riyadh',
      reference: 'campaign 7',
    };
    const res = await post(`/ui/clients/${buyer.id}/consume`, form);
    expect(res.status, res.text.slice(0, 800)).toBe(303);
    consumptionId = /^\/ui\/consumptions\/([0-9a-f-]{36})\?notice=consumption_applied$/.exec(res.location!)![1]!;
    const again = await post(`/ui/clients/${buyer.id}/consume`, form);
    expect(again.location).toBe(res.location);
    expect(await remainingOf(buyer.id, sms.code)).toBe('70');

    const api = (await app.request('GET', `/v1/consumptions/${consumptionId}`, { key: app.keys.read })).body;
    expect(api).toMatchObject({
      status: 'applied',
      quantity: '30',
      applied: '30',
      remaining: '70',
      idempotency_key: idem,
      reference: 'campaign 7',
      dimensions: { branch: 'Riyadh' },
    });
    const page = await get(res.location!);
    expect(page.status).toBe(200);
    expect(page.text).toContain('data-notice="consumption_applied"');
    for (const a of api.allocations) {
      expect(page.text).toContain(`data-allocation="${a.balance_id}" data-amount="${a.amount}"`);
    }
    expect(page.text).toContain('data-remaining="70"');
    expect(page.text).toContain('Riyadh');
    expect(page.text).toContain('data-action="reverse"');
  });

  it('refuses a use larger than the balance with the figures, and changes nothing', async () => {
    const { csrf, idem } = await formOf(`/ui/clients/${buyer.id}/consume`);
    const ledger = await countRows(app, 'ledger_entries');
    const res = await post(`/ui/clients/${buyer.id}/consume`, {
      csrf,
      idem,
      action: 'register',
      credit_type: sms.code,
      quantity: '1000',
    });
    expect(res.status).toBe(422);
    expect(res.text).toContain('data-refusal="insufficient_balance"');
    expect(res.text).toContain('Not enough balance');
    expect(res.text).toContain('data-units="70"');
    expect(res.text).toContain('data-units="1000"');
    expect(res.text).toContain('data-units="930"');
    expect(res.text).toMatch(/name="quantity" value="1000"/);
    // the refused use keeps its key; the form offers a new one for the next try
    expect(idemOf(res.text)).not.toBe(idem);
    expect(await remainingOf(buyer.id, sms.code)).toBe('70');
    expect(await countRows(app, 'ledger_entries')).toBe(ledger);
  });

  it('answers bad input beside its field (422) and writes nothing', async () => {
    const { csrf, idem } = await formOf(`/ui/clients/${buyer.id}/consume`);
    const consumptions = await countRows(app, 'consumptions');
    const res = await post(`/ui/clients/${buyer.id}/consume`, {
      csrf,
      idem,
      action: 'register',
      credit_type: sms.code,
      quantity: '2.5',
      occurred_at: '2027-01-01T00:00',
    });
    expect(res.status).toBe(422);
    expect(res.text).toContain('id="error-quantity"');
    expect(res.text).toContain('Must be a whole number for this credit type.');
    expect(idemOf(res.text)).toBe(idem);
    const future = await post(`/ui/clients/${buyer.id}/consume`, {
      csrf,
      idem,
      action: 'quote',
      credit_type: sms.code,
      quantity: '2',
      occurred_at: '2027-01-01T00:00',
    });
    expect(future.status).toBe(422);
    expect(future.text).toContain('id="error-occurred_at"');
    // a quantity left empty: "Required." beside it, from the server (no browser-only check before it)
    const blank = await post(`/ui/clients/${buyer.id}/consume`, {
      csrf,
      idem,
      action: 'register',
      credit_type: sms.code,
      quantity: '',
    });
    expect(blank.status).toBe(422);
    expect(messageBeside(blank.text, 'quantity')).toBe('Required.');
    expect((await formOf(`/ui/clients/${buyer.id}/consume`)).text).not.toMatch(/name="quantity"[^>]*required/);
    expect(await countRows(app, 'consumptions')).toBe(consumptions);
  });

  it('reverses from the consumption page; the units go back', async () => {
    const csrf = csrfOf((await get(`/ui/consumptions/${consumptionId}`)).text);
    // a reason the route would refuse is refused when sent, not carried to the confirmation to be refused after it
    const tooLong = 'x'.repeat(501);
    const long = await post(`/ui/consumptions/${consumptionId}/reverse`, { csrf, reason: tooLong });
    expect(long.status).toBe(422);
    expect(long.text).not.toContain('data-confirm=');
    expect(messageBeside(long.text, 'reason')).toBe('At most 500 characters.');
    expect(long.text).toMatch(new RegExp(`name="reason"[^>]*value="${tooLong}"`));
    const ask = await post(`/ui/consumptions/${consumptionId}/reverse`, { csrf, reason: 'sent twice' });
    expect(ask.status).toBe(200);
    expect(ask.text).toContain('data-confirm="confirm-reverse"');
    expect(readable(ask.text)).toContain('Its units go back to the balances that paid for it');
    expect(hiddenOf(ask.text)).toEqual({ csrf, confirmed: 'yes', reason: 'sent twice' });
    const still = (await app.request('GET', `/v1/consumptions/${consumptionId}`, { key: app.keys.read })).body;
    expect(still.status).not.toBe('reversed');
    // in Arabic too, with no Latin word but the values
    const arabic = await post(`/ui/consumptions/${consumptionId}/reverse?lang=ar`, { csrf });
    expect(arabic.text).toContain('عكس هذا الاستهلاك؟');
    expect(arabic.text).toContain('رجوع دون تغيير');
    const res = await post(`/ui/consumptions/${consumptionId}/reverse`, hiddenOf(ask.text));
    expect(res.location).toBe(`/ui/consumptions/${consumptionId}?notice=consumption_reversed`);
    const api = (await app.request('GET', `/v1/consumptions/${consumptionId}`, { key: app.keys.read })).body;
    expect(api).toMatchObject({ status: 'reversed', reversal: { returned: '30', expired: '0' } });
    expect(await remainingOf(buyer.id, sms.code)).toBe('100');
    const page = await get(res.location!);
    expect(page.text).toContain('data-status="reversed"');
    expect(page.text).toContain('data-reversal="30"');
    expect(page.text).not.toContain('data-action="reverse"');
  });
});

describe('adjusting a balance', () => {
  it('adds units with a reason; the balance and the ledger agree; bad input is told beside its field', async () => {
    const owner = await createClient(app, { external_ref: 'c-adjust', name: 'Adjusted' });
    const subscription = await sell(owner.id, pack.id);
    const view = (await app.request('GET', `/v1/subscriptions/${subscription}`)).body;
    const balanceId = view.balances[0].id as string;
    const client = await get(`/ui/clients/${owner.id}`);
    expect(client.text).toContain(`href="/ui/balances/${balanceId}/adjust"`);
    const { csrf, idem } = await formOf(`/ui/balances/${balanceId}/adjust`);
    const entries = await countRows(app, 'ledger_entries');

    const noReason = await post(`/ui/balances/${balanceId}/adjust`, { csrf, idem, delta: '5', reason: ' ' });
    expect(noReason.status).toBe(422);
    expect(noReason.text).toContain('id="error-reason"');
    expect(noReason.text).toMatch(/name="delta" value="5"/);
    const notNumber = await post(`/ui/balances/${balanceId}/adjust`, { csrf, idem, delta: 'five', reason: 'x' });
    expect(notNumber.status).toBe(422);
    expect(notNumber.text).toContain('id="error-delta"');
    // 0 alone is refused (a negative delta is allowed), and said so; in Arabic, in the catalogue's words
    const zero = await post(`/ui/balances/${balanceId}/adjust`, { csrf, idem, delta: '0', reason: 'x' });
    expect(zero.status).toBe(422);
    expect(messageBeside(zero.text, 'delta')).toBe('Must not be zero.');
    const arabic = await get(`/ui/balances/${balanceId}/adjust?lang=ar`);
    const zeroAr = await post(
      `/ui/balances/${balanceId}/adjust`,
      { csrf: csrfOf(arabic.text), idem: idemOf(arabic.text), delta: '0', reason: 'x' },
      { cookie: `${session}; credits_lang=${cookieValue(arabic.cookies, 'credits_lang')}` },
    );
    expect(messageBeside(zeroAr.text, 'delta')).toBe('يجب ألا تكون القيمة صفرًا.');
    const tooMuch = await post(`/ui/balances/${balanceId}/adjust`, { csrf, idem, delta: '-500', reason: 'x' });
    expect(tooMuch.status).toBe(422);
    expect(tooMuch.text).toContain('data-refusal="insufficient_balance"');
    expect(tooMuch.text).toContain('data-units="100"');
    expect(await countRows(app, 'ledger_entries')).toBe(entries);

    const form = { csrf, idem, delta: '12', reason: 'outage goodwill' };
    const res = await post(`/ui/balances/${balanceId}/adjust`, form);
    expect(res.status, res.text.slice(0, 800)).toBe(303);
    expect(res.location).toBe(`/ui/balances/${balanceId}?notice=balance_adjusted`);
    expect((await post(`/ui/balances/${balanceId}/adjust`, form)).location).toBe(res.location);
    const balance = (await app.request('GET', `/v1/balances/${balanceId}`, { key: app.keys.read })).body;
    expect(balance.remaining).toBe('112');
    const statement = (await app.request('GET', `/v1/clients/${owner.id}/statement`, { key: app.keys.read })).body;
    const adjustments = statement.data.filter((e: { kind: string }) => e.kind === 'adjust');
    expect(adjustments).toEqual([
      expect.objectContaining({
        balance_id: balanceId,
        amount: '12',
        remaining_after: '112',
        reason: 'outage goodwill',
      }),
    ]);
    const page = await get(res.location!);
    expect(page.text).toContain('data-notice="balance_adjusted"');
    expect(page.text).toContain('data-balance-remaining="112"');
    expect(page.text).toContain('outage goodwill');
  });
});

describe('invoices', () => {
  let payer: { id: string; external_ref: string };
  let paid: { id: string; number: string };
  let unpaid: { id: string; number: string };

  beforeAll(async () => {
    payer = await createClient(app, { external_ref: 'c-payer', name: 'Payer' });
    for (const _ of [1, 2]) await sell(payer.id, pack.id);
    const list = await app.request('GET', `/v1/invoices?client=${payer.external_ref}`, { key: app.keys.read });
    [paid, unpaid] = list.body.data;
  });

  it('lists invoices with the filters the API has', async () => {
    const all = await get(`/ui/invoices?client=${payer.external_ref}`);
    expect(all.status).toBe(200);
    expect(all.text).toContain(paid.number);
    expect(all.text).toContain(unpaid.number);
    expect(all.text).not.toContain('<img src=x');
    const none = await get(`/ui/invoices?client=${payer.external_ref}&status=paid`);
    expect(none.text).not.toContain(paid.number);
    const everyone = await get('/ui/invoices?status=issued');
    expect(everyone.text).toContain(paid.number);
    expect(everyone.text).toContain(usd(4900));
    expect((await get('/ui/invoices?client=nobody')).text).not.toContain(paid.number);
  });

  it('pays one and voids another from its page; a paid invoice cannot be voided', async () => {
    const page = await get(`/ui/invoices/${paid.id}`);
    expect(page.status).toBe(200);
    expect(page.text).toContain('data-invoice-total="4900"');
    // the line's period kept left to right, whatever the language of the name before it
    expect(page.text).toMatch(/<td dir="auto">[^<]*<bdi dir="ltr">\d{4}-\d{2}-\d{2} → \d{4}-\d{2}-\d{2}<\/bdi><\/td>/);
    const csrf = csrfOf(page.text);
    const res = await post(`/ui/invoices/${paid.id}/pay`, { csrf });
    expect(res.location).toBe(`/ui/invoices/${paid.id}?notice=invoice_paid`);
    expect((await app.request('GET', `/v1/invoices/${paid.id}`)).body.status).toBe('paid');
    const shown = await get(res.location!);
    expect(shown.text).toContain('data-notice="invoice_paid"');
    expect(shown.text).not.toContain('data-action="pay"');

    // a paid invoice's void (a page opened before the payment) asks nothing: it is refused at once
    const refused = await post(`/ui/invoices/${paid.id}/void`, { csrf, reason: 'oops' });
    expect(refused.status).toBe(409);
    expect(refused.text).toContain('data-refusal="conflict"');
    expect((await app.request('GET', `/v1/invoices/${paid.id}`)).body.status).toBe('paid');

    // a reason the route refuses comes back as typed, marked, and why beside it: at once, before any confirmation
    // (a confirmation page would carry it on to a refusal after the person confirmed), and if sent confirmed
    const tooLong = 'x'.repeat(501);
    const unconfirmed = await post(`/ui/invoices/${unpaid.id}/void`, { csrf, reason: tooLong });
    expect(unconfirmed.status).toBe(422);
    expect(unconfirmed.text).not.toContain('data-confirm=');
    expect(messageBeside(unconfirmed.text, 'reason')).toBe('At most 500 characters.');
    const longReason = await post(`/ui/invoices/${unpaid.id}/void`, { csrf, reason: tooLong, confirmed: 'yes' });
    expect(longReason.status).toBe(422);
    expect(messageBeside(longReason.text, 'reason')).toBe('At most 500 characters.');
    expect(longReason.text).toMatch(
      new RegExp(`name="reason"[^>]*value="${tooLong}" aria-invalid="true" aria-describedby="error-reason"`),
    );
    expect((await app.request('GET', `/v1/invoices/${unpaid.id}`)).body.status).toBe('issued');

    // voiding asks first and says truthfully what happens to the units the invoice granted
    const ask = await post(`/ui/invoices/${unpaid.number}/void`, { csrf, reason: 'sold by mistake' });
    expect(ask.status).toBe(200);
    expect(ask.text).toContain('data-confirm="confirm-void"');
    expect(readable(ask.text)).toContain('The units it granted are not taken back');
    expect(ask.text).toContain(`action="/ui/invoices/${unpaid.id}/void"`);
    expect((await app.request('GET', `/v1/invoices/${unpaid.id}`)).body.status).toBe('issued');
    const voided = await post(`/ui/invoices/${unpaid.number}/void`, hiddenOf(ask.text));
    expect(voided.location).toBe(`/ui/invoices/${unpaid.id}?notice=invoice_voided`);
    expect((await app.request('GET', `/v1/invoices/${unpaid.id}`)).body).toMatchObject({
      status: 'void',
      void_reason: 'sold by mistake',
    });
    // as the page said: its subscription runs on, its units kept
    const sold = (await app.request('GET', `/v1/invoices/${unpaid.id}`)).body.subscription_id as string;
    expect((await app.request('GET', `/v1/subscriptions/${sold}`)).body.status).toBe('active');
  });

  it('says, before voiding a subscription’s first invoice, that the subscription not started goes too', async () => {
    const id = await sell(payer.id, pack.id, { activation: 'on_payment' });
    expect((await app.request('GET', `/v1/subscriptions/${id}`)).body.status).toBe('pending');
    const invoices = await app.request('GET', `/v1/invoices?client=${payer.external_ref}&status=issued`);
    const first = (invoices.body.data as Array<{ id: string; subscription_id: string }>).find(
      (i) => i.subscription_id === id,
    )!;
    const csrf = csrfOf((await get(`/ui/invoices/${first.id}`)).text);
    const ask = await post(`/ui/invoices/${first.id}/void?lang=ar`, { csrf });
    expect(ask.status).toBe(200);
    expect(ask.text).toContain('اشتراكها لم يبدأ بعد: يُلغى، وتُبطل الوحدات التي كان سيمنحها.');
    expect((await app.request('GET', `/v1/subscriptions/${id}`)).body.status).toBe('pending');
    const english = await post(`/ui/invoices/${first.id}/void?lang=en`, { csrf });
    expect(readable(english.text)).toContain('Its subscription has not started: it is cancelled');
    const voided = await post(`/ui/invoices/${first.id}/void`, hiddenOf(english.text));
    expect(voided.location).toBe(`/ui/invoices/${first.id}?notice=invoice_voided`);
    expect((await app.request('GET', `/v1/subscriptions/${id}`)).body.status).toBe('cancelled');
  });
});

describe('hostile text in a form', () => {
  it('is refused as bad input beside its field, never a 500, nothing written', async () => {
    const id = await sell(client.id, pack.id);
    const csrf = csrfOf((await get(`/ui/subscriptions/${id}`)).text);
    const consume = await formOf(`/ui/clients/${client.id}/consume`);
    const counts = [await countRows(app, 'ledger_entries'), await countRows(app, 'consumptions')];
    // (a lone surrogate cannot travel in a form: the browser, like URLSearchParams, sends U+FFFD instead)
    for (const text of ['a\u0000b', '\u0000']) {
      const cancel = await post(`/ui/subscriptions/${id}/cancel`, { csrf, at: 'now', reason: text, confirmed: 'yes' });
      expect(cancel.status).toBe(422);
      expect(cancel.text).toContain('id="error-reason"');
      const use = await post(`/ui/clients/${client.id}/consume`, {
        csrf,
        idem: consume.idem,
        action: 'register',
        credit_type: sms.code,
        quantity: '1',
        reference: text,
      });
      expect(use.status).toBe(422);
      expect(use.text).toContain('id="error-reference"');
      const sale = await formOf(`/ui/clients/${client.id}/sell`);
      const sold = await post(`/ui/clients/${client.id}/sell`, { csrf, idem: sale.idem, package: text, price: '1' });
      expect(sold.status).toBe(422);
      expect(sold.text).toContain('id="error-package"');
    }
    expect((await app.request('GET', `/v1/subscriptions/${id}`)).body.status).toBe('active');
    expect([await countRows(app, 'ledger_entries'), await countRows(app, 'consumptions')]).toEqual(counts);
  });
});

describe('in Arabic', () => {
  it('speaks Arabic right to left, with the field messages in Arabic beside the fields', async () => {
    const page = await get(`/ui/clients/${client.id}/consume?lang=ar`);
    expect(page.text).toMatch(/^<!doctype html>\n<html lang="ar" dir="rtl">/);
    expect(page.text).toContain('تسجيل استهلاك');
    expect(page.text).toContain('معاينة');
    const lang = `credits_lang=${cookieValue(page.cookies, 'credits_lang')}`;
    const bad = await post(
      `/ui/clients/${client.id}/consume`,
      { csrf: csrfOf(page.text), idem: idemOf(page.text), action: 'quote', credit_type: sms.code, quantity: 'x' },
      { cookie: `${session}; ${lang}` },
    );
    expect(bad.status).toBe(422);
    expect(bad.text).toContain('dir="rtl"');
    expect(messageBeside(bad.text, 'quantity')).toBe('يجب أن تكون عددًا مثل ٢٫٥.');
    // the messages a person meets most are the catalogue's, in Arabic, with no English beside them
    for (const [quantity, said] of [
      ['-3', 'يجب ألا تكون القيمة سالبة.'],
      ['2.5', 'يجب أن تكون عددًا صحيحًا لنوع الرصيد هذا.'],
      ['', 'مطلوب.'],
    ] as const) {
      const refused = await post(
        `/ui/clients/${client.id}/consume`,
        { csrf: csrfOf(page.text), idem: idemOf(page.text), action: 'quote', credit_type: sms.code, quantity },
        { cookie: `${session}; ${lang}` },
      );
      expect(refused.status, quantity).toBe(422);
      expect(messageBeside(refused.text, 'quantity'), quantity).toBe(said);
    }
    const invoices = await get('/ui/invoices', { cookie: `${session}; ${lang}` });
    expect(invoices.text).toContain('الفواتير');
  });
});

describe("freezing from the client's page", () => {
  it('answers days the package does not allow with its reason beside the field, the days kept (en, ar)', async () => {
    const freezable = await createPackage(app, [{ credit_type: sms.code, units: 10 }], {
      code: 'c-freeze',
      max_freeze_days: 14,
    });
    const who = await createClient(app, { external_ref: 'c-freezer', name: 'Freezer' });
    const sold = await app.request('POST', '/v1/subscriptions', {
      body: { client: who.id, package: freezable.id },
    });
    expect(sold.status, sold.text).toBe(201);
    const id = (sold.body as { id: string; status: string }).id;
    expect((sold.body as { status: string }).status).toBe('active');
    const freeze = async (lang: string, days: string) => {
      const page = await formOf(`/ui/clients/${who.id}?lang=${lang}`);
      return post(`/ui/subscriptions/${id}/freeze?lang=${lang}`, { csrf: page.csrf, idem: page.idem, days });
    };
    const cases = [
      ['en', '30', 'Beyond what the package allows: 14 freeze days per period, 0 used, 14 left, 30 asked.'],
      ['en', 'abc', 'Must be a number.'],
      ['ar', '٣٠', 'أكثر مما تسمح به الباقة: أيام التجميد في كل فترة ١٤، استُخدم منها ٠، وبقي ١٤، والمطلوب ٣٠.'],
      ['ar', 'abc', 'يجب أن تكون القيمة عددًا.'],
    ] as const;
    for (const [lang, days, message] of cases) {
      const res = await freeze(lang, days);
      expect(res.status, res.text.slice(0, 800)).toBe(422);
      expect(res.text).toContain('data-notice="freeze_failed"');
      expect(res.text).not.toContain('the request was not valid');
      expect(res.text).not.toContain('الطلب غير صالح');
      expect(messageBeside(res.text, 'days')).toBe(message);
      // the days as typed stay in that subscription's form, marked invalid and described by the message
      expect(res.text).toMatch(
        new RegExp(`name="days"[^>]*value="${days}" aria-invalid="true" aria-describedby="error-days"`),
      );
    }
    const after = await app.request('GET', `/v1/subscriptions/${id}`, { key: app.keys.read });
    expect(after.body.status).toBe('active');
    // days it allows: frozen, back on the client's page with the notice
    const ok = await freeze('en', '3');
    expect(ok.status, ok.text.slice(0, 500)).toBe(303);
    expect(ok.location).toBe(`/ui/clients/${who.id}?notice=frozen`);
  });
});
