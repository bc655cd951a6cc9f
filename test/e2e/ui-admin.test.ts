import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sibling, startSibling, startTestApp, type TestApp } from '../helpers/app.js';

/** API keys and the audit trail in the pages (issue 18), over plain HTTP, and the API routes they call. */
let app: TestApp;
let other: Sibling;
/** The cache clock of both processes: the test moves it past API_KEY_CACHE_MS. */
let ticks = 1_000_000;
let cookie: string;

interface Page {
  status: number;
  text: string;
  location: string | null;
  cookies: string[];
}

async function get(path: string, headers: Record<string, string> = {}): Promise<Page> {
  const res = await fetch(`${app.baseUrl}${path}`, {
    headers: { accept: 'text/html', ...(cookie ? { cookie } : {}), ...headers },
    redirect: 'manual',
  });
  return {
    status: res.status,
    text: await res.text(),
    location: res.headers.get('location'),
    cookies: res.headers.getSetCookie(),
  };
}

async function postForm(path: string, form: Record<string, string>, headers: Record<string, string> = {}) {
  const res = await fetch(`${app.baseUrl}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'text/html',
      ...(cookie ? { cookie } : {}),
      ...headers,
    },
    body: new URLSearchParams(form).toString(),
    redirect: 'manual',
  });
  return { status: res.status, text: await res.text(), location: res.headers.get('location') };
}

const cookieValue = (cookies: string[], name: string): string | undefined =>
  cookies
    .find((c) => c.startsWith(`${name}=`))
    ?.split(';')[0]
    ?.slice(name.length + 1);
const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
const idemOf = (html: string) => /name="idem" value="([^"]+)"/.exec(html)?.[1] ?? '';
const newKeyOf = (html: string) => /value="(crd_[^"]+)"[^>]*data-new-key/.exec(html)?.[1];

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const apiStatus = async (baseUrl: string, key: string) =>
  (await fetch(`${baseUrl}/v1/clients`, { headers: bearer(key) })).status;

async function signIn(key: string): Promise<string> {
  const form = await get('/ui/login');
  const login = cookieValue(form.cookies, 'credits_ui_login')!;
  const res = await fetch(`${app.baseUrl}/ui/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `credits_ui_login=${login}` },
    body: new URLSearchParams({ csrf: csrfOf(form.text), key, next: '/ui' }).toString(),
    redirect: 'manual',
  });
  expect(res.status).toBe(303);
  return `credits_ui=${cookieValue(res.headers.getSetCookie(), 'credits_ui')}`;
}

/** Makes a key with the page's form; answers the page and the form's fields as sent. */
async function makeKeyFromPage(name: string, scope: string) {
  const list = await get('/ui/api-keys');
  expect(list.status).toBe(200);
  const form = { csrf: csrfOf(list.text), idem: idemOf(list.text), name, scope };
  return { form, answer: await postForm('/ui/api-keys', form) };
}

const keyRow = async (name: string) =>
  (await app.database.db('api_keys').where({ name }).first('id', 'prefix', 'revoked_at')) as
    | { id: string; prefix: string; revoked_at: Date | null }
    | undefined;

beforeAll(async () => {
  app = await startTestApp({ roles: ['api'], now: '2026-06-01T09:00:00.000Z', ticks: () => ticks });
  other = await startSibling(app, ['api']);
  cookie = await signIn(app.keys.admin);
});
afterAll(async () => {
  await other?.stop();
  await app.close();
});

describe('API keys in the pages', () => {
  let made: string;

  it('makes a key from the form and shows it once, on the answer page; it works against the API', async () => {
    const { answer } = await makeKeyFromPage('partner <b>sync</b>', 'write');
    expect(answer.status, answer.text).toBe(200);
    const key = newKeyOf(answer.text);
    expect(key).toMatch(/^crd_[\w-]{30,}$/);
    made = key!;
    expect(answer.text).toContain('partner &lt;b&gt;sync&lt;/b&gt;');
    expect(answer.text).toMatch(/only time the key is shown/);
    // a write key: reads and writes, not the admin routes
    expect(await apiStatus(app.baseUrl, made)).toBe(200);
    const admin = await fetch(`${app.baseUrl}/v1/api-keys`, { headers: bearer(made) });
    expect(admin.status).toBe(403);
  });

  it('the list shows the key only by its prefix; the key itself is never shown again', async () => {
    const row = (await keyRow('partner <b>sync</b>'))!;
    const list = await get('/ui/api-keys');
    expect(list.text).toContain(row.prefix);
    expect(made.startsWith(row.prefix)).toBe(true);
    expect(list.text).not.toContain(made);
    expect(list.text).not.toContain(made.slice(row.prefix.length));
    // the API's list too
    const api = await app.request('GET', '/v1/api-keys?limit=500');
    expect(api.text).not.toContain(made);
    expect(api.body.data.find((k: { id: string }) => k.id === row.id)).toMatchObject({
      prefix: row.prefix,
      scopes: ['write'],
      revoked_at: null,
    });
  });

  it('the same form sent twice makes one key: the second answer says so and shows no key (409)', async () => {
    const { form, answer } = await makeKeyFromPage('twice', 'read');
    expect(answer.status).toBe(200);
    const again = await postForm('/ui/api-keys', form);
    expect(again.status).toBe(409);
    expect(newKeyOf(again.text)).toBeUndefined();
    expect(again.text).toContain((await keyRow('twice'))!.prefix);
    expect(again.text).toMatch(/sent already/);
    expect(await app.database.db('api_keys').where({ name: 'twice' }).pluck('id')).toHaveLength(1);
  });

  it('refuses a blank name with the message beside the field and the values kept (422), making nothing', async () => {
    const before = await app.database.db('api_keys').count({ n: '*' });
    const list = await get('/ui/api-keys');
    const answer = await postForm('/ui/api-keys', {
      csrf: csrfOf(list.text),
      idem: idemOf(list.text),
      name: '  ',
      scope: 'admin',
    });
    expect(answer.status).toBe(422);
    expect(answer.text).toMatch(/name="name"[^>]*aria-invalid="true"/);
    expect(answer.text).toMatch(/<option value="admin" dir="auto" selected>/);
    const unknownScope = await postForm('/ui/api-keys', {
      csrf: csrfOf(list.text),
      idem: idemOf(list.text),
      name: 'x',
      scope: 'root',
    });
    expect(unknownScope.status).toBe(422);
    expect(unknownScope.text).toMatch(/aria-invalid="true"/);
    expect(await app.database.db('api_keys').count({ n: '*' })).toEqual(before);
    // without the CSRF token nothing is made either
    expect((await postForm('/ui/api-keys', { name: 'no-csrf', scope: 'read' })).status).toBe(403);
    expect(await keyRow('no-csrf')).toBeUndefined();
  });

  it('revokes from the page after confirming: refused here at once, elsewhere within API_KEY_CACHE_MS', async () => {
    const row = (await keyRow('partner <b>sync</b>'))!;
    // the other process has the key in its cache
    expect(await apiStatus(other.baseUrl!, made)).toBe(200);
    const confirm = await get(`/ui/api-keys/${row.id}/revoke`);
    expect(confirm.status).toBe(200);
    expect(confirm.text).toContain(row.prefix);
    expect(confirm.text).toContain(`action="/ui/api-keys/${row.id}/revoke"`);
    // the link alone (a GET) revokes nothing
    expect((await keyRow('partner <b>sync</b>'))!.revoked_at).toBeNull();

    const done = await postForm(`/ui/api-keys/${row.id}/revoke`, { csrf: csrfOf(confirm.text) });
    expect(done.status).toBe(303);
    expect(done.location).toBe('/ui/api-keys?notice=api_key_revoked');
    expect((await get(done.location!)).text).toContain('The key is revoked');
    expect((await keyRow('partner <b>sync</b>'))!.revoked_at).not.toBeNull();

    expect(await apiStatus(app.baseUrl, made)).toBe(401);
    ticks += app.ctx.config.API_KEY_CACHE_MS + 1;
    expect(await apiStatus(other.baseUrl!, made)).toBe(401);
    // a revoked key has no revoke button, and its confirmation page sends back to the list
    expect((await get(`/ui/api-keys/${row.id}/revoke`)).status).toBe(303);
    expect((await get('/ui/api-keys/not-a-key/revoke')).status).toBe(404);
  });

  it('refuses to revoke the last admin key (409), and revokes another admin key', async () => {
    const db = app.database.db;
    const { answer } = await makeKeyFromPage('second admin', 'admin');
    expect(answer.status).toBe(200);
    const second = (await keyRow('second admin'))!;
    const confirm = await get(`/ui/api-keys/${second.id}/revoke`);
    expect((await postForm(`/ui/api-keys/${second.id}/revoke`, { csrf: csrfOf(confirm.text) })).status).toBe(303);

    // only the session's own admin key is left
    const live = await db('api_keys').whereNull('revoked_at').whereRaw("'admin' = ANY (scopes)").pluck('id');
    expect(live).toHaveLength(1);
    const own = live[0] as string;
    const page = await get(`/ui/api-keys/${own}/revoke`);
    expect(page.text).toMatch(/your own session/);
    const refused = await postForm(`/ui/api-keys/${own}/revoke`, { csrf: csrfOf(page.text) });
    expect(refused.status).toBe(409);
    expect(refused.text).toMatch(/last admin key/);
    expect(await db('api_keys').where({ id: own }).first('revoked_at')).toEqual({ revoked_at: null });
  });
});

describe('API keys through the API', () => {
  it('POST /v1/api-keys answers the key once (201); GET lists prefixes; revoke is idempotent', async () => {
    const made = await app.request('POST', '/v1/api-keys', { body: { name: 'api made', scopes: ['read'] } });
    expect(made.status, made.text).toBe(201);
    expect(made.body).toMatchObject({ name: 'api made', scopes: ['read'], revoked_at: null });
    expect(made.body.key.startsWith(made.body.prefix)).toBe(true);
    expect(await apiStatus(app.baseUrl, made.body.key)).toBe(200);
    const stored = await app.database.db('api_keys').where({ id: made.body.id }).first();
    expect(JSON.stringify(stored)).not.toContain(made.body.key);

    const revoked = await app.request('POST', `/v1/api-keys/${made.body.id}/revoke`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.revoked_at).toBe(app.clock.now().toISOString());
    expect(await apiStatus(app.baseUrl, made.body.key)).toBe(401);
    const again = await app.request('POST', `/v1/api-keys/${made.body.id}/revoke`);
    expect(again.body).toEqual(revoked.body);
    expect((await app.request('POST', '/v1/api-keys/00000000-0000-4000-8000-000000000000/revoke')).status).toBe(404);
    expect((await app.request('POST', '/v1/api-keys/nope/revoke')).status).toBe(404);
  });

  it('an Idempotency-Key makes one key and never stores it: the same request again is 409 with the first', async () => {
    const headers = { 'idempotency-key': 'api-key-once' };
    const first = await app.request('POST', '/v1/api-keys', { body: { name: 'idem', scopes: ['read'] }, headers });
    expect(first.status).toBe(201);
    const again = await app.request('POST', '/v1/api-keys', { body: { name: 'idem', scopes: ['read'] }, headers });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ code: 'conflict', api_key: { id: first.body.id, prefix: first.body.prefix } });
    expect(again.text).not.toContain(first.body.key);
    const other = await app.request('POST', '/v1/api-keys', { body: { name: 'idem 2', scopes: ['read'] }, headers });
    expect(other.body.code).toBe('idempotency_conflict');
    const records = await app.database.db('idempotency_records').select('response_body');
    expect(JSON.stringify(records)).not.toContain(first.body.key);
  });

  it('refuses bad scopes and names (422), and every key route needs an admin key', async () => {
    for (const body of [
      { name: 'x', scopes: [] },
      { name: 'x', scopes: ['root'] },
      { name: '', scopes: ['read'] },
    ]) {
      expect((await app.request('POST', '/v1/api-keys', { body })).status).toBe(422);
    }
    const write = { key: app.keys.write };
    expect(
      (await app.request('POST', '/v1/api-keys', { ...write, body: { name: 'x', scopes: ['admin'] } })).status,
    ).toBe(403);
    expect((await app.request('GET', '/v1/api-keys', write)).status).toBe(403);
  });
});

describe('the audit page', () => {
  it('lists what the pages did, newest first, with who, through what and the outcome', async () => {
    const page = await get('/ui/audit');
    expect(page.status).toBe(200);
    const actions = [...page.text.matchAll(/<code dir="ltr" data-action>([^<]+)<\/code>/g)].map((m) => m[1]);
    expect(actions).toContain('POST /v1/api-keys');
    expect(actions).toContain('POST /v1/api-keys/{id}/revoke');
    expect(page.text).toContain('data-origin="ui"');
    expect(page.text).toContain('test admin');
    // the refused revocation of the last admin key is there, marked refused, with its status
    expect(page.text).toMatch(/refused<\/span> <code dir="ltr" data-status>409<\/code>/);
    // no key is ever in the trail
    expect(page.text).not.toMatch(/crd_[\w-]{30,}/);
    const rows = await app.database.db('audit_events').where({ origin: 'ui' }).orderBy(['at', 'id']);
    expect(rows.map((r: { action: string }) => r.action)).toEqual(
      expect.arrayContaining(['POST /v1/api-keys', 'POST /v1/api-keys/{id}/revoke']),
    );
  });

  it('filters by action, origin, actor and date, and says a bad date beside its field', async () => {
    const revokes = await get(`/ui/audit?action=revoke&origin=ui`);
    const actions = [...revokes.text.matchAll(/data-action>([^<]+)</g)].map((m) => m[1]);
    expect(actions.length).toBeGreaterThanOrEqual(3);
    expect(new Set(actions)).toEqual(new Set(['POST /v1/api-keys/{id}/revoke']));
    expect(revokes.text).not.toContain('data-origin="api"');

    const cli = await get('/ui/audit?origin=cli');
    expect(cli.text).toContain('Nothing recorded matches.');
    const nobody = await get('/ui/audit?actor=nobody-at-all');
    expect(nobody.text).toContain('Nothing recorded matches.');

    expect((await get('/ui/audit?from=2026-06-01&to=2026-06-01')).text).toContain('data-action>');
    expect((await get('/ui/audit?to=2026-05-31')).text).toContain('Nothing recorded matches.');
    const bad = await get('/ui/audit?from=June');
    expect(bad.status).toBe(200);
    expect(bad.text).toMatch(/name="from"[^>]*aria-invalid="true"/);
  });

  it('reads in Arabic, right to left, every label from the catalogue', async () => {
    const audit = await get('/ui/audit?lang=ar');
    expect(audit.text).toMatch(/<html lang="ar" dir="rtl">/);
    expect(audit.text).toContain('سجل التدقيق');
    expect(audit.text).toContain('هذه الصفحات');
    const keys = await get('/ui/api-keys?lang=ar');
    expect(keys.text).toContain('إنشاء مفتاح');
    expect(keys.text).toContain('أنشئ المفتاح');
  });
});
