import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, revokeApiKey } from '../../src/http/auth.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { countRows, createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';
import { awaitRun } from '../helpers/reports.js';

/** The pages over plain HTTP: sign-in, sessions, CSRF, headers and escaping. (test/browser drives them in Chromium.) */
const NOW = '2026-05-10T09:00:00.000Z';
let app: TestApp;
let sub: { id: string; current_period_end: string };
let clientId: string;

const basic = (key: string) => `Basic ${Buffer.from(`admin:${key}`).toString('base64')}`;

interface Page {
  status: number;
  headers: Headers;
  text: string;
  location: string | null;
  cookies: string[];
}

async function get(path: string, headers: Record<string, string> = {}): Promise<Page> {
  const res = await fetch(`${app.baseUrl}${path}`, {
    headers: { accept: 'text/html', ...headers },
    redirect: 'manual',
  });
  return {
    status: res.status,
    headers: res.headers,
    text: await res.text(),
    location: res.headers.get('location'),
    cookies: res.headers.getSetCookie(),
  };
}

async function postForm(
  path: string,
  form: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<Page> {
  const res = await fetch(`${app.baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html', ...headers },
    body: new URLSearchParams(form).toString(),
    redirect: 'manual',
  });
  return {
    status: res.status,
    headers: res.headers,
    text: await res.text(),
    location: res.headers.get('location'),
    cookies: res.headers.getSetCookie(),
  };
}

const cookieValue = (cookies: string[], name: string): string | undefined => {
  const cookie = cookies.find((c) => c.startsWith(`${name}=`));
  return cookie?.split(';')[0]?.slice(name.length + 1);
};
const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';

/** Signs in through the form; returns the session cookie header. */
async function signIn(key = app.keys.admin): Promise<string> {
  const form = await get('/ui/login');
  const login = cookieValue(form.cookies, 'credits_ui_login')!;
  const res = await postForm(
    '/ui/login',
    { csrf: csrfOf(form.text), key, next: '/ui/clients' },
    { cookie: `credits_ui_login=${login}` },
  );
  expect(res.status, res.text).toBe(303);
  return `credits_ui=${cookieValue(res.cookies, 'credits_ui')}`;
}

beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: NOW });
  const ct = await createCreditType(app, { code: 'u-sms' });
  const pkg = await createPackage(app, [{ credit_type: ct.code, units: 100 }], {
    code: 'u-pack',
    name: '<b>Pack</b> & "more"',
  });
  const client = await createClient(app, { external_ref: 'u-evil', name: '<img src=x onerror=alert(1)>"\'&' });
  clientId = client.id;
  sub = await subscribe(app, client.id, pkg.code);
});
afterAll(async () => {
  await app.close();
});

describe('getting in', () => {
  it(
    'sends a browser without credentials to the login ' + 'form, and answers anything else 401 asking for Basic',
    async () => {
      const page = await get('/ui/clients?search=a');
      expect(page.status).toBe(303);
      expect(page.location).toBe('/ui/login?next=%2Fui%2Fclients%3Fsearch%3Da');
      const api = await fetch(`${app.baseUrl}/ui`);
      expect(api.status).toBe(401);
      expect(api.headers.get('www-authenticate')).toMatch(/^Basic/);
    },
  );

  it('accepts an admin key as the HTTP Basic password (or Bearer), and refuses a smaller key', async () => {
    expect((await get('/ui', { authorization: basic(app.keys.admin) })).status).toBe(200);
    expect((await get('/ui', { authorization: `Bearer ${app.keys.admin}` })).status).toBe(200);
    expect((await get('/ui', { authorization: basic(app.keys.write) })).status).toBe(403);
    expect((await get('/ui', { authorization: basic('crd_wrong0000000000000000000000000') })).status).toBe(401);
  });

  it(
    'signs in with the form: a session cookie that is HttpOnly, ' +
      'SameSite=Strict, expiring, and only a hash of it stored',
    async () => {
      const form = await get('/ui/login?next=%2Fui%2Fpackages');
      expect(form.status).toBe(200);
      const login = cookieValue(form.cookies, 'credits_ui_login')!;
      expect(form.cookies[0]).toMatch(/HttpOnly/);
      // without the form's own cookie (another site posting a login), nothing happens
      expect((await postForm('/ui/login', { csrf: csrfOf(form.text), key: app.keys.admin })).status).toBe(403);
      const wrong = await postForm(
        '/ui/login',
        { csrf: csrfOf(form.text), key: 'crd_wrong0000000000000000000000000' },
        { cookie: `credits_ui_login=${login}` },
      );
      expect(wrong.status).toBe(401);
      expect(wrong.text).toContain('not valid');
      const reader = await postForm(
        '/ui/login',
        { csrf: csrfOf(form.text), key: app.keys.read },
        { cookie: `credits_ui_login=${login}` },
      );
      expect(reader.status).toBe(401);
      expect(reader.text).toContain('not an admin key');

      const res = await postForm(
        '/ui/login',
        { csrf: csrfOf(form.text), key: app.keys.admin, next: '/ui/packages' },
        { cookie: `credits_ui_login=${login}` },
      );
      expect(res.status).toBe(303);
      expect(res.location).toBe('/ui/packages');
      const cookie = res.cookies.find((c) => c.startsWith('credits_ui='))!;
      expect(cookie).toMatch(/; Path=\/ui; Max-Age=28800; HttpOnly; SameSite=Strict/);
      const token = cookieValue(res.cookies, 'credits_ui')!;
      const rows = await app.database.db('ui_sessions');
      expect(
        rows.some((r: { token_hash: Buffer }) => r.token_hash.equals(createHash('sha256').update(token).digest())),
      ).toBe(true);
      expect(JSON.stringify(rows)).not.toContain(token);
      expect((await get('/ui/packages', { cookie: `credits_ui=${token}` })).status).toBe(200);
      // a forged or unknown token is not a session
      expect((await get('/ui', { cookie: `credits_ui=${token.slice(0, -2)}xx` })).status).toBe(303);
    },
  );

  it('never sends the browser elsewhere after the login', async () => {
    const form = await get('/ui/login');
    const login = cookieValue(form.cookies, 'credits_ui_login')!;
    for (const next of ['https://evil.example/', '//evil.example', '/v1/clients', '/ui/../v1']) {
      const res = await postForm(
        '/ui/login',
        { csrf: csrfOf(form.text), key: app.keys.admin, next },
        { cookie: `credits_ui_login=${login}` },
      );
      expect(res.location).toBe('/ui');
    }
  });

  it('ends a session at its expiry, when its key is revoked, and at logout', async () => {
    const session = await signIn();
    app.clock.advance(8 * 3_600_000 + 1_000);
    try {
      expect((await get('/ui', { cookie: session })).status).toBe(303);
    } finally {
      app.clock.set(NOW);
    }
    const extra = await createApiKey(app.database.db, { name: 'to revoke', scopes: ['admin'], now: new Date(NOW) });
    const doomed = await signIn(extra.key);
    expect((await get('/ui', { cookie: doomed })).status).toBe(200);
    await revokeApiKey(app.database.db, extra.id, new Date(NOW));
    expect((await get('/ui', { cookie: doomed })).status).toBe(303);

    const live = await signIn();
    const overview = await get('/ui', { cookie: live });
    const out = await postForm('/ui/logout', { csrf: csrfOf(overview.text) }, { cookie: live });
    expect(out.status).toBe(303);
    expect(out.location).toBe('/ui/login');
    expect(out.cookies.find((c) => c.startsWith('credits_ui='))).toMatch(/Max-Age=0/);
    expect((await get('/ui', { cookie: live })).status).toBe(303);
  });
});

describe('the pages', () => {
  it(
    'send security headers, with a CSP that allows only this ' +
      'origin, and declare UTF-8, a language and a direction',
    async () => {
      const session = await signIn();
      for (const path of [
        '/ui',
        '/ui/clients',
        `/ui/clients/${clientId}`,
        '/ui/packages',
        '/ui/packages/u-pack',
        '/ui/reports',
        '/ui/webhooks',
        '/ui/login',
      ]) {
        const page = await get(path, path === '/ui/login' ? {} : { cookie: session });
        expect(page.status, path).toBe(200);
        expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
        const csp = page.headers.get('content-security-policy')!;
        expect(csp).toContain("default-src 'self'");
        expect(csp).toContain("style-src 'self'");
        expect(csp).toContain("frame-ancestors 'none'");
        expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https:|\*/);
        expect(page.headers.get('x-content-type-options')).toBe('nosniff');
        expect(page.headers.get('x-frame-options')).toBe('SAMEORIGIN');
        expect(page.headers.get('referrer-policy')).toBe('same-origin');
        expect(page.text).toMatch(/^<!doctype html>\n<html lang="en" dir="ltr">/);
        expect(page.text).toContain('<meta charset="utf-8">');
        // no inline script or style anywhere: the CSP would refuse them
        expect(page.text).not.toMatch(/<script|style="|<style/);
      }
      const css = await fetch(`${app.baseUrl}/ui/assets/ui.css`);
      expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    },
  );

  it('escape every value that comes from the database', async () => {
    const session = await signIn();
    for (const path of ['/ui/clients', `/ui/clients/${clientId}`, '/ui/packages', '/ui/packages/u-pack', '/ui']) {
      const page = await get(path, { cookie: session });
      expect(page.text, path).not.toContain('<img src=x');
      expect(page.text, path).not.toContain('<b>Pack</b>');
    }
    const client = await get(`/ui/clients/${clientId}`, { cookie: session });
    expect(client.text).toContain('<bdi>&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;</bdi>');
  });

  it('answer 404 pages for what does not exist', async () => {
    const session = await signIn();
    for (const path of ['/ui/clients/nobody', '/ui/packages/none', '/ui/nothing', '/ui/reports/not-a-uuid/download']) {
      const page = await get(path, { cookie: session });
      expect(page.status, path).toBe(404);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    }
  });
});

describe('forms are protected against cross-site requests', () => {
  it("refuses a post without the token, with another session's token, or from another origin", async () => {
    const session = await signIn();
    const other = await signIn();
    const page = await get(`/ui/clients/${clientId}`, { cookie: session });
    const mine = csrfOf(page.text);
    const theirs = csrfOf((await get('/ui', { cookie: other })).text);
    expect(mine).not.toBe(theirs);
    const before = await countRows(app, 'subscription_periods');
    expect((await postForm(`/ui/subscriptions/${sub.id}/renew`, {}, { cookie: session })).status).toBe(403);
    expect((await postForm(`/ui/subscriptions/${sub.id}/renew`, { csrf: theirs }, { cookie: session })).status).toBe(
      403,
    );
    // as long as the token in characters, longer in bytes: refused, not a 500 from the comparison
    expect(
      (await postForm(`/ui/subscriptions/${sub.id}/renew`, { csrf: 'é'.repeat(mine.length) }, { cookie: session }))
        .status,
    ).toBe(403);
    expect(
      (
        await postForm(
          `/ui/subscriptions/${sub.id}/renew`,
          { csrf: mine },
          { cookie: session, origin: 'https://evil.example' },
        )
      ).status,
    ).toBe(403);
    // HTTP Basic is sent by the browser by itself too: its forms need the token as well
    expect(
      (await postForm(`/ui/subscriptions/${sub.id}/renew`, {}, { authorization: basic(app.keys.admin) })).status,
    ).toBe(403);
    expect(await countRows(app, 'subscription_periods')).toBe(before);
  });

  it('renews and recharges with the token (a recharge form sent twice recharges once)', async () => {
    const session = await signIn();
    const page = await get(`/ui/clients/${clientId}`, { cookie: session });
    const csrf = csrfOf(page.text);
    // an invoice is issued: the form asks first, saying so, and renews nothing
    const ask = await postForm(`/ui/subscriptions/${sub.id}/renew`, { csrf }, { cookie: session, origin: app.baseUrl });
    expect(ask.status).toBe(200);
    expect(ask.text).toContain('data-confirm="confirm-renew"');
    expect(ask.text).toContain('a renewal invoice is issued');
    expect(ask.text).toContain(`href="/ui/clients/${clientId}" data-action="back"`);
    expect((await app.request('GET', `/v1/subscriptions/${sub.id}`, { key: app.keys.read })).body.renewal_count).toBe(
      0,
    );
    const renewed = await postForm(
      `/ui/subscriptions/${sub.id}/renew`,
      { csrf, confirmed: 'yes' },
      { cookie: session, origin: app.baseUrl },
    );
    expect(renewed.status).toBe(303);
    expect(renewed.location).toBe(`/ui/clients/${clientId}?notice=renewed`);
    const view = (await app.request('GET', `/v1/subscriptions/${sub.id}`, { key: app.keys.read })).body;
    expect(view).toMatchObject({ renewal_count: 1, current_period_start: sub.current_period_end });

    const idem = /name="idem" value="([^"]+)"/.exec(page.text)![1]!;
    const askRecharge = await postForm(
      `/ui/subscriptions/${sub.id}/recharge?lang=ar`,
      { csrf, idem },
      { cookie: session },
    );
    expect(askRecharge.text).toContain('إعادة شحن هذا الاشتراك؟');
    expect(askRecharge.text).toContain(`<input type="hidden" name="idem" value="${idem}">`); // acts once, even so
    const first = await postForm(
      `/ui/subscriptions/${sub.id}/recharge`,
      { csrf, idem, confirmed: 'yes' },
      { cookie: session },
    );
    expect(first.location).toBe(`/ui/clients/${clientId}?notice=recharged`);
    const again = await postForm(
      `/ui/subscriptions/${sub.id}/recharge`,
      { csrf, idem, confirmed: 'yes' },
      { cookie: session },
    );
    expect(again.location).toBe(`/ui/clients/${clientId}?notice=recharged`);
    expect(await app.database.db('recharges').where({ subscription_id: sub.id })).toHaveLength(1);
    const shown = await get(first.location!, { cookie: session });
    expect(shown.text).toContain('The subscription was recharged.');
  });

  it('freezes and unfreezes a subscription from the client page, with the token', async () => {
    const ct = await createCreditType(app, { code: 'u-fz' });
    const pkg = await createPackage(app, [{ credit_type: ct.code, units: 5 }], { max_freeze_days: 10 });
    const client = await createClient(app, { external_ref: 'u-freezer' });
    const held = await subscribe(app, client.id, pkg.code);
    const session = await signIn();
    const page = await get(`/ui/clients/${client.id}`, { cookie: session });
    expect(page.text).toContain(`data-action="freeze" data-subscription="${held.id}"`);
    const csrf = csrfOf(page.text);
    expect((await postForm(`/ui/subscriptions/${held.id}/freeze`, { days: '3' }, { cookie: session })).status).toBe(
      403,
    );
    const refused = await postForm(`/ui/subscriptions/${held.id}/freeze`, { csrf, days: '11' }, { cookie: session });
    // days beyond the allowance: the client's page again (422), the days kept and the reason beside them
    expect(refused.status).toBe(422);
    expect(refused.text).toContain('data-notice="freeze_failed"');
    expect(refused.text).toContain('10 freeze days per period, 0 used, 10 left, 11 asked');
    const frozen = await postForm(`/ui/subscriptions/${held.id}/freeze`, { csrf, days: '3' }, { cookie: session });
    expect(frozen.status).toBe(303);
    expect(frozen.location).toBe(`/ui/clients/${client.id}?notice=frozen`);
    const view = (await app.request('GET', `/v1/subscriptions/${held.id}`, { key: app.keys.read })).body;
    expect(view).toMatchObject({ status: 'frozen', frozen_until: '2026-05-13T09:00:00.000Z' });
    const shown = await get(frozen.location!, { cookie: session });
    expect(shown.text).toContain('The subscription is frozen');
    expect(shown.text).toContain(`data-action="unfreeze" data-subscription="${held.id}"`);

    const unfrozen = await postForm(`/ui/subscriptions/${held.id}/unfreeze`, { csrf }, { cookie: session });
    expect(unfrozen.location).toBe(`/ui/clients/${client.id}?notice=unfrozen`);
    const again = await postForm(`/ui/subscriptions/${held.id}/unfreeze`, { csrf }, { cookie: session });
    expect(again.location).toBe(`/ui/clients/${client.id}?notice=unfreeze_failed&code=conflict`);
    expect((await app.request('GET', `/v1/subscriptions/${held.id}`, { key: app.keys.read })).body.status).toBe(
      'active',
    );
  });

  it('runs reports from the form (fields that do not apply are left out) and shows what is wrong', async () => {
    const session = await signIn();
    const csrf = csrfOf((await get('/ui/reports', { cookie: session })).text);
    const runs = await countRows(app, 'report_runs');
    const bad = await postForm(
      '/ui/reports',
      { csrf, type: 'consumption', format: 'csv', from: '2026-13-45' },
      { cookie: session },
    );
    expect(bad.status).toBe(422);
    // the message is beside the From field (its input marked invalid), with no internal `params.` path
    expect(bad.text).toMatch(/<input[^>]*name="from"[^>]*aria-invalid="true"/);
    expect(bad.text).toContain('id="error-from"');
    expect(bad.text).not.toContain('params.from');
    expect(await countRows(app, 'report_runs')).toBe(runs);
    // a range backwards: translated on the From field, in English and in Arabic, no path, no English on the Arabic page
    for (const [lang, message] of [
      ['en', 'Must not be after the “To” day.'],
      ['ar', 'يجب ألا يكون بعد يوم «إلى».'],
    ] as const) {
      const backwards = await postForm(
        `/ui/reports?lang=${lang}`,
        { csrf, type: 'consumption', format: 'csv', from: '2026-03-10', to: '2026-03-01' },
        { cookie: session },
      );
      expect(backwards.status).toBe(422);
      expect(backwards.text).toContain(`<p class="field-error" id="error-from" role="alert">${message}</p>`);
      expect(backwards.text).not.toContain('params.from');
      expect(backwards.text).not.toContain('must not be after');
    }
    expect(await countRows(app, 'report_runs')).toBe(runs);
    // text Postgres cannot store, in a form field: refused as bad input, not a 500 page
    for (const client of ['a\u0000b', 'lone \ud800']) {
      const hostile = await postForm(
        '/ui/reports',
        { csrf, type: 'balances', format: 'csv', client },
        { cookie: session },
      );
      expect(hostile.status, hostile.text.slice(0, 300)).toBeGreaterThanOrEqual(400);
      expect(hostile.status).toBeLessThan(500);
    }
    expect(await countRows(app, 'report_runs')).toBe(runs);

    const ok = await postForm(
      '/ui/reports',
      { csrf, type: 'balances', format: 'csv', days_ahead: '3', from: '2026-01-01', client: 'u-evil' },
      { cookie: session },
    );
    expect(ok.status).toBe(303);
    expect(ok.location).toBe('/ui/reports?notice=report_queued');
    const [row] = await app.database.db('report_runs').orderBy('created_at', 'desc').orderBy('id', 'desc').limit(1);
    expect(row).toMatchObject({ type: 'balances', trigger: 'ui', format: 'csv', params: { client: clientId } });
    expect((await awaitRun(app, row.id)).status).toBe('done');
    // a run that failed before its params were resolved still shows, with what it was sent
    await app.database.db('report_runs').insert({
      id: '0190a000-0000-7000-8000-000000000001',
      type: 'consumption',
      params: JSON.stringify({ from: 'garbage', client: 'nobody' }),
      format: 'json',
      status: 'failed',
      trigger: 'api',
      error: 'validation_failed: params.from: <bad>',
      created_at: new Date(NOW),
    });
    const list = await get('/ui/reports', { cookie: session });
    expect(list.status).toBe(200);
    expect(list.text).toContain(`href="/ui/reports/${row.id}/download"`);
    expect(list.text).toContain('client <code dir="ltr">nobody</code>');
    expect(list.text).toContain('validation_failed: params.from: &lt;bad&gt;');
    const file = await fetch(`${app.baseUrl}/ui/reports/${row.id}/download`, { headers: { cookie: session } });
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect((await file.text()).split('\r\n')[0]).toMatch(/^subscription_id,client_ref,client_name/);
  });

  it("offers the credit types' dimensions in the report form, and runs consumption by one of them", async () => {
    const dim = await createCreditType(app, { code: 'u-dim', dimensions: ['branch'] });
    const session = await signIn();
    const form = await get('/ui/reports', { cookie: session });
    expect(form.text).toMatch(/<option value="branch" dir="auto">dimension: <code dir="ltr">branch<\/code><\/option>/);
    const bad = await postForm(
      '/ui/reports',
      { csrf: csrfOf(form.text), type: 'consumption', format: 'json', group_by: 'branch' },
      { cookie: session },
    );
    // a dimension belongs to a credit type: without one the form says so beside the field
    expect(bad.status).toBe(422);
    expect(bad.text).toContain('Must be day, week, month, or a dimension of the credit type chosen.');
    const ok = await postForm(
      '/ui/reports',
      { csrf: csrfOf(form.text), type: 'consumption', format: 'json', group_by: 'branch', credit_type: 'u-dim' },
      { cookie: session },
    );
    expect(ok.status).toBe(303);
    const [row] = await app.database.db('report_runs').orderBy('created_at', 'desc').orderBy('id', 'desc').limit(1);
    expect(row).toMatchObject({
      type: 'consumption',
      trigger: 'ui',
      params: { group_by: 'branch', credit_type: dim.id },
    });
    expect((await awaitRun(app, row.id)).status).toBe('done');
  });
});
