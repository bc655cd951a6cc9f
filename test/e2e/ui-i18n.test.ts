import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { disableEndpoint } from '../../src/webhooks/endpoints.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';
import { awaitRun } from '../helpers/reports.js';

/**
 * The pages in Arabic and English over plain HTTP (issue 18): the language chosen by `?lang=`, kept
 * in a cookie, or taken from Accept-Language; `dir="rtl"`; money with the currency's decimals and
 * dates with the Hijri calendar beside them, in both languages; and no English left on an Arabic page
 * (what the database holds and codes aside).
 */
const NOW = '2026-03-15T10:00:00.000Z';
let app: TestApp;
let clientId = '';
let kuwaitClientId = '';
let reportId = '';
let disabledEndpointId = '';

/**
 * Every value this file writes into the database and the pages print as they are, in any language
 * (a name in an SVG title or a page's <title> cannot be marked up as a name).
 */
const SEEDED = [
  'Acme Logistics',
  'acme',
  'ops@acme.example',
  'kw-trading',
  'sms',
  'SMS',
  'message',
  'voice',
  'minute',
  'Starter SMS',
  'starter',
  'Kuwait Gold',
  'kw-gold',
  'goodwill for the outage',
  'call-7',
  'call reservation',
  'https://hooks.example/credits',
  'Billing system',
  'invoice.paid',
  'nobody',
  'Asia/Riyadh',
];

interface Page {
  status: number;
  text: string;
  location: string | null;
  cookies: string[];
}

/** A browser's cookie jar, as far as these pages need one. */
class Jar {
  private readonly cookies = new Map<string, string>();
  take(setCookies: string[]): void {
    for (const line of setCookies) {
      const [pair = ''] = line.split(';');
      const at = pair.indexOf('=');
      const name = pair.slice(0, at);
      const value = pair.slice(at + 1);
      if (/Max-Age=0/i.test(line) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  get(name: string): string | undefined {
    return this.cookies.get(name);
  }
}

async function request(
  path: string,
  jar: Jar,
  init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {},
): Promise<Page> {
  const res = await fetch(`${app.baseUrl}${path}`, {
    method: init.method ?? 'GET',
    redirect: 'manual',
    headers: {
      accept: 'text/html',
      ...(init.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      ...(jar.header() ? { cookie: jar.header() } : {}),
      ...init.headers,
    },
    ...(init.form ? { body: new URLSearchParams(init.form).toString() } : {}),
  });
  const cookies = res.headers.getSetCookie();
  jar.take(cookies);
  return { status: res.status, text: await res.text(), location: res.headers.get('location'), cookies };
}

const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';

/** Signs in through the form; the jar then holds the session (and whatever language was chosen). */
async function signIn(jar = new Jar()): Promise<Jar> {
  const form = await request('/ui/login', jar);
  const res = await request('/ui/login', jar, {
    method: 'POST',
    form: { csrf: csrfOf(form.text), key: app.keys.admin, next: '/ui' },
  });
  expect(res.status, res.text).toBe(303);
  expect(jar.get('credits_ui')).toBeTruthy();
  return jar;
}

const htmlTag = (text: string) => /<html [^>]*>/.exec(text)?.[0];

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", '#96': '`' };
const decode = (text: string) => text.replace(/&(amp|lt|gt|quot|#39|#96);/g, (_m, e: string) => ENTITIES[e] ?? '');
const VOID = new Set(['meta', 'link', 'input', 'br', 'img', 'hr', 'col', 'source', 'wbr']);
/** Attributes a person reads or hears (a tooltip, a placeholder, a screen reader's label). */
const READ_ATTRIBUTES = /\b(aria-label|title|placeholder|alt)="([^"]*)"/g;

/**
 * What a person reads on a page: its text nodes and read attributes, but not inside `<code>`, `<bdi>`
 * (a name from the database) or an element marked `lang="en"` (a technical message kept in English).
 */
function visibleTexts(page: string): string[] {
  const texts: string[] = [];
  const stack: Array<{ tag: string; skip: boolean }> = [];
  const skipping = () => stack.at(-1)?.skip ?? false;
  for (const m of page.matchAll(
    /<!--[\s\S]*?-->|<!doctype[^>]*>|<(\/?)([a-zA-Z][\w-]*)((?:[^>"]|"[^"]*")*)>|([^<]+)/gi,
  )) {
    const [, closing, tagName, attributes = '', text] = m;
    if (text !== undefined) {
      if (!skipping() && stack.at(-1)?.tag !== 'style') texts.push(decode(text));
      continue;
    }
    if (!tagName) continue;
    const tag = tagName.toLowerCase();
    if (closing) {
      const at = stack.map((e) => e.tag).lastIndexOf(tag);
      if (at >= 0) stack.length = at;
      continue;
    }
    const skip = skipping() || tag === 'code' || tag === 'bdi' || /\blang="en"/.test(attributes);
    if (!skip) for (const a of attributes.matchAll(READ_ATTRIBUTES)) texts.push(decode(a[2] ?? ''));
    if (!VOID.has(tag) && !attributes.trimEnd().endsWith('/')) stack.push({ tag, skip });
  }
  return texts;
}

/** The Latin words of 3 letters or more a page shows outside names and codes (database values taken out). */
function englishLeft(page: string): string[] {
  const words = new Set<string>();
  for (let text of visibleTexts(page)) {
    for (const value of [...SEEDED].sort((a, b) => b.length - a.length)) text = text.split(value).join(' ');
    for (const word of text.match(/[A-Za-z]{3,}/g) ?? []) words.add(word);
  }
  return [...words];
}

beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: NOW, env: { BUSINESS_TZ: 'Asia/Riyadh' } });
  app.clock.set('2026-03-01T09:00:00.000Z');
  const sms = await createCreditType(app, { code: 'sms', name: 'SMS', unit: 'message' });
  const voice = await createCreditType(app, { code: 'voice', name: 'Voice', unit: 'minute', decimals: 1 });
  const starter = await createPackage(
    app,
    [
      { credit_type: sms.code, units: 1000 },
      { credit_type: voice.code, units: '90.5' },
    ],
    { code: 'starter', name: 'Starter SMS', price: 98765, currency: 'SAR', description: 'باقة البداية' },
  );
  const gold = await createPackage(app, [{ credit_type: sms.code, units: 5000 }], {
    code: 'kw-gold',
    name: 'Kuwait Gold',
    price: 1234500,
    currency: 'KWD',
    validity: { count: 3, unit: 'month' },
    rollover: { policy: 'percent', percent: 50, cap_percent: 20 },
  });
  const acme = await createClient(app, { external_ref: 'acme', name: 'Acme Logistics', email: 'ops@acme.example' });
  clientId = acme.id;
  const kuwait = await createClient(app, { external_ref: 'kw-trading', name: 'شركة الخليج للتجارة' });
  kuwaitClientId = kuwait.id;
  await subscribe(app, acme.id, starter.code);
  await subscribe(app, kuwait.id, gold.code);
  for (let day = 0; day < 14; day += 1) {
    app.clock.set(new Date(Date.parse('2026-03-01T12:00:00.000Z') + day * 86_400_000).toISOString());
    const used = await app.request('POST', '/v1/consumptions?wait=true', {
      key: app.keys.write,
      body: { client: 'acme', credit_type: 'sms', quantity: 30 + day, idempotency_key: `acme-${day}` },
    });
    expect(used.status, used.text).toBe(200);
  }
  app.clock.set('2026-03-14T15:00:00.000Z');
  const voiceUse = await app.request('POST', '/v1/consumptions?wait=true', {
    key: app.keys.write,
    body: { client: 'acme', credit_type: 'voice', quantity: '85.5', idempotency_key: 'acme-voice' },
  });
  expect(voiceUse.status, voiceUse.text).toBe(200);
  const mistake = await app.request('POST', '/v1/consumptions?wait=true', {
    key: app.keys.write,
    body: { client: 'acme', credit_type: 'sms', quantity: 5, idempotency_key: 'acme-twice' },
  });
  const reversed = await app.request('POST', `/v1/consumptions/${mistake.body.id}/reverse?wait=true`, {
    key: app.keys.write,
    body: { reason: 'مكرر' },
  });
  expect(reversed.status, reversed.text).toBe(200);
  const grant = await app.request('POST', '/v1/clients/acme/grants', {
    headers: { 'Idempotency-Key': 'goodwill-1' },
    body: { credit_type: 'sms', units: 50, expires_at: '2026-03-20T00:00:00Z', reason: 'goodwill for the outage' },
  });
  expect(grant.status, grant.text).toBe(201);
  const hold = await app.request('POST', '/v1/holds?wait=true', {
    key: app.keys.write,
    body: {
      client: 'acme',
      credit_type: 'sms',
      quantity: 10,
      idempotency_key: 'call-7',
      reference: 'call reservation',
      // still open at NOW, when the pages are read (a read closes a hold past its expiry first): they show it
      expires_in_seconds: 86_400,
    },
  });
  expect(hold.status, hold.text).toBe(200);
  app.clock.set(NOW);
  const endpoint = await app.request('POST', '/v1/webhook-endpoints', {
    body: { url: 'https://hooks.example/credits', events: ['invoice.paid'], description: 'Billing system' },
  });
  expect(endpoint.status, endpoint.text).toBe(201);
  disabledEndpointId = endpoint.body.id;
  await app.request('POST', '/v1/webhook-endpoints', { body: { url: 'https://hooks.example/all', events: ['*'] } });
  await disableEndpoint(
    app.database.db,
    endpoint.body.id,
    {
      detail: 'delivery 0190 failed 8 attempts in a row; the last: HTTP 500',
      shown: 'delivery 0190 failed 8 attempts in a row; the last: HTTP 500',
    },
    new Date(NOW),
  );
  const report = await app.request('POST', '/v1/reports', {
    body: { type: 'consumption', format: 'csv', params: { group_by: 'week', per: 'client', client: 'acme' } },
  });
  expect(report.status, report.text).toBe(202);
  reportId = report.body.id;
  expect((await awaitRun(app, reportId)).status).toBe('done');
  await app.database.db('report_runs').insert({
    id: '0190a000-0000-7000-8000-000000000002',
    type: 'expiring',
    params: JSON.stringify({ days_ahead: 7, client: 'nobody' }),
    format: 'json',
    status: 'failed',
    trigger: 'nightly',
    error: 'validation_failed: params.from: <bad>',
    created_at: new Date(NOW),
  });
}, 120_000);

afterAll(async () => {
  await app?.close();
});

describe('the language of the pages', () => {
  it('is Arabic, right to left, with ?lang=ar — kept on the next page without it, until ?lang=en', async () => {
    const jar = await signIn();
    const english = await request('/ui/clients', jar);
    expect(htmlTag(english.text)).toBe('<html lang="en" dir="ltr">');

    const arabic = await request('/ui/clients?lang=ar', jar);
    expect(htmlTag(arabic.text)).toBe('<html lang="ar" dir="rtl">');
    expect(arabic.cookies.find((c) => c.startsWith('credits_lang='))).toMatch(/credits_lang=ar; .*Path=\/ui/);
    expect(arabic.text).toContain('<h1>العملاء</h1>');
    // the header's switch names each language in itself, the current one marked
    expect(arabic.text).toMatch(/lang="en" hreflang="en"\s+data-lang-switch="en">English<\/a>/);
    expect(arabic.text).toMatch(/data-lang-switch="ar" aria-current="true">العربية<\/a>/);

    const kept = await request('/ui/packages', jar);
    expect(htmlTag(kept.text)).toBe('<html lang="ar" dir="rtl">');
    expect(kept.text).toContain('<h1>الباقات</h1>');
    const back = await request('/ui/packages?lang=en', jar);
    expect(htmlTag(back.text)).toBe('<html lang="en" dir="ltr">');
    expect(htmlTag((await request('/ui', jar)).text)).toBe('<html lang="en" dir="ltr">');
  });

  it('follows Accept-Language when nothing was chosen, the login form included', async () => {
    const jar = await signIn();
    const page = await request('/ui', jar, { headers: { 'accept-language': 'fr-FR, ar-SA;q=0.8, en;q=0.5' } });
    expect(htmlTag(page.text)).toBe('<html lang="ar" dir="rtl">');
    const login = await request('/ui/login', new Jar(), { headers: { 'accept-language': 'ar' } });
    expect(htmlTag(login.text)).toBe('<html lang="ar" dir="rtl">');
    expect(login.text).toContain('تسجيل الدخول');
    // a choice made beats the browser's
    await request('/ui?lang=en', jar);
    const chosen = await request('/ui', jar, { headers: { 'accept-language': 'ar' } });
    expect(htmlTag(chosen.text)).toBe('<html lang="en" dir="ltr">');
  });
});

describe('numbers, money and dates', () => {
  it('show KWD with 3 decimals and SAR with 2, in both languages, Arabic with Arabic-Indic digits', async () => {
    const jar = await signIn();
    const en = (await request('/ui/packages?lang=en', jar)).text;
    expect(en).toContain('KWD\u00a01,234.500');
    expect(en).toContain('SAR\u00a0987.65<');
    const ar = (await request('/ui/packages?lang=ar', jar)).text;
    expect(ar).toContain('١٬٢٣٤٫٥٠٠');
    expect(ar).toMatch(/[^٠-٩]٩٨٧٫٦٥[^٠-٩]/);
    // the validity and the items in Arabic words and digits
    expect(ar).toContain('٣ أشهر');
    expect(ar).toMatch(/١٬٠٠٠ <code dir="ltr">sms<\/code> و\s?٩٠٫٥ <code dir="ltr">voice<\/code>/);
    const client = (await request(`/ui/clients/${kuwaitClientId}`, jar)).text;
    expect(client).toContain('١٬٢٣٤٫٥٠٠');
    const overview = (await request('/ui', jar)).text;
    expect(overview).toMatch(/<div class="n">[٠-٩]+<\/div>/);
    expect(overview).not.toMatch(/<div class="n">\d+<\/div>/);
  });

  it('shows the Hijri date beside the Gregorian one with ?calendar=hijri, kept until ?calendar=gregory', async () => {
    const jar = await signIn();
    const plain = (await request(`/ui/clients/${clientId}?lang=en`, jar)).text;
    expect(plain).not.toContain('class="hijri"');
    const en = (await request(`/ui/clients/${clientId}?calendar=hijri`, jar)).text;
    // the client came on 1 March 2026, 12 Ramadan 1447 (Umm al-Qura)
    expect(en).toContain(
      'client since <time datetime="2026-03-01T09:00:00.000Z">1 Mar 2026</time> ' +
        '<span class="hijri" data-calendar="islamic-umalqura">(12 Ram. 1447 AH)</span>',
    );
    expect(en).toMatch(/data-calendar-switch="hijri" aria-current="true"/);
    const ar = (await request(`/ui?lang=ar`, jar)).text;
    expect(ar).toContain('<span class="hijri" data-calendar="islamic-umalqura">(٢٦ رمضان ١٤٤٧ هـ)</span>');
    const off = (await request(`/ui/clients/${clientId}?calendar=gregory`, jar)).text;
    expect(off).not.toContain('class="hijri"');
  });
});

describe('notices and statuses', () => {
  it('read notice.<code> from the catalogue, an error with its reason when the code ends in _failed', async () => {
    const jar = await signIn();
    const done = (await request(`/ui/clients/${clientId}?notice=renewed&lang=ar`, jar)).text;
    expect(done).toContain('<div class="notice" role="status" data-notice="renewed">جُدّد الاشتراك.</div>');
    const failed = (await request(`/ui/clients/${clientId}?notice=freeze_failed&code=conflict`, jar)).text;
    expect(failed).toMatch(
      /<div class="notice error" role="alert" data-notice="freeze_failed">تعذّر تجميد الاشتراك .*السبب: حالته لا تسمح/,
    );
    const en = (await request(`/ui/webhooks?notice=enable_failed&code=not_found&lang=en`, jar)).text;
    expect(en).toContain('The webhook endpoint could not be enabled. Reason: it no longer exists.');
    // a code the catalogue does not know shows nothing, and nothing of the query is echoed
    const unknown = (await request(`/ui/clients/${clientId}?notice=%3Cscript%3E&code=conflict`, jar)).text;
    expect(unknown).not.toContain('class="notice');
    expect((await request(`/ui/clients/${clientId}?notice=title_suffix`, jar)).text).not.toContain('class="notice');
    const noReason = (await request(`/ui/clients/${clientId}?notice=renew_failed&code=reason`, jar)).text;
    expect(noReason).toContain(
      '<div class="notice error" role="alert" data-notice="renew_failed">The subscription could not be renewed.</div>',
    );
  });

  it('show a status translated, with the raw status as its class', async () => {
    const jar = await signIn();
    const ar = (await request('/ui/packages?lang=ar', jar)).text;
    expect(ar).toContain('<span class="badge active" data-status="active">نشط</span>');
    const reports = (await request('/ui/reports', jar)).text;
    expect(reports).toContain('<span class="badge done" data-status="done">جاهز</span>');
    expect(reports).toContain('<span class="badge failed" data-status="failed">فشل</span>');
  });

  it('say in the viewer’s language why a webhook endpoint was disabled, on its deliveries’ page too', async () => {
    const jar = await signIn();
    await request('/ui?lang=ar', jar);
    const page = (await request(`/ui/webhooks/${disabledEndpointId}/deliveries`, jar)).text;
    expect(page).toContain(
      'فشل التسليم <code dir="ltr">0190</code> في ٨ محاولات متتالية؛ آخرها: <span lang="en" dir="ltr">HTTP 500</span>',
    );
  });

  it('say in the viewer’s language why a report cannot be downloaded yet', async () => {
    const jar = await signIn();
    await request('/ui?lang=ar', jar);
    const page = await request('/ui/reports/0190a000-0000-7000-8000-000000000002/download', jar);
    expect(page.status).toBe(409);
    expect(page.text).toContain('فشل التقرير:');
    expect(page.text).toContain('<span lang="en" dir="ltr">validation_failed: params.from: &lt;bad&gt;</span>');
    expect(englishLeft(page.text)).toEqual([]);
  });
});

describe('no inline English on an Arabic page', () => {
  const pages = () => [
    '/ui',
    '/ui/clients',
    '/ui/clients?search=nobody-at-all',
    `/ui/clients/${clientId}`,
    `/ui/clients/${clientId}?notice=recharge_failed&code=unavailable`,
    `/ui/clients/${kuwaitClientId}`,
    '/ui/packages',
    '/ui/packages/starter',
    '/ui/packages/kw-gold',
    '/ui/reports',
    '/ui/webhooks',
    // a disabled endpoint's deliveries: why it was disabled, in Arabic (its last error as it came)
    `/ui/webhooks/${disabledEndpointId}/deliveries`,
    '/ui/no-such-page',
    '/ui/clients/nobody',
  ];

  it('finds the guard working: an English page is full of English words', async () => {
    const jar = await signIn();
    await request('/ui?lang=en', jar);
    const page = (await request('/ui', jar)).text.replace('<html lang="en"', '<html');
    expect(englishLeft(page)).toEqual(expect.arrayContaining(['Overview', 'Subscriptions', 'Expiring']));
  });

  it.each([['gregory'], ['hijri']])(
    'shows no Latin word of 3+ letters outside names, codes and database values (%s calendar)',
    async (calendar) => {
      const jar = await signIn();
      await request(`/ui?lang=ar&calendar=${calendar}`, jar);
      const found: Record<string, string[]> = {};
      for (const path of pages()) {
        const page = await request(path, jar);
        expect(page.status, path).toBeLessThan(500);
        expect(htmlTag(page.text), path).toBe('<html lang="ar" dir="rtl">');
        const left = englishLeft(page.text);
        if (left.length > 0) found[path] = left;
      }
      const login = await request('/ui/login?lang=ar', new Jar());
      const loginLeft = englishLeft(login.text.replace(/<code dir="ltr">[^<]*<\/code>/g, ''));
      if (loginLeft.length > 0) found['/ui/login'] = loginLeft;
      expect(found).toEqual({});
    },
  );
});

describe('numbers on an Arabic page', () => {
  /** The Western digits a page shows outside names, codes and database values (which keep theirs). */
  function westernDigits(page: string): string[] {
    const found = new Set<string>();
    for (let text of visibleTexts(page)) {
      for (const value of [...SEEDED].sort((a, b) => b.length - a.length)) text = text.split(value).join(' ');
      // an invoice's number is a code, in a page's <title> too (which holds no markup to say so)
      text = text.replace(/INV-\d{4}-\d{6}/g, ' ');
      for (const run of text.match(/[^\s]*[0-9][^\s]*/g) ?? []) found.add(run);
    }
    return [...found];
  }

  it('are written in the page’s digits, on the pages that read and in the forms', async () => {
    const jar = await signIn();
    await request('/ui?lang=ar', jar);
    const subscriptions = (await app.request('GET', `/v1/subscriptions?client=${clientId}`)).body.data;
    const balance =
      subscriptions[0].balances?.[0]?.id ??
      (await app.request('GET', `/v1/clients/${clientId}/balances`)).body.data[0].balances[0].id;
    const invoice = (await app.request('GET', `/v1/invoices?client=${clientId}`)).body.data[0].id;
    const consumption = (await app.request('GET', `/v1/consumptions?client=${clientId}&limit=1`)).body.data[0].id;
    const paths = [
      '/ui',
      `/ui/clients/${clientId}`,
      '/ui/packages',
      '/ui/packages/starter',
      '/ui/packages/starter/edit',
      '/ui/packages/new',
      '/ui/credit-types',
      '/ui/clients/new',
      `/ui/clients/${clientId}/sell`,
      `/ui/clients/${clientId}/consume`,
      `/ui/subscriptions/${subscriptions[0].id}`,
      `/ui/balances/${balance}/adjust`,
      `/ui/invoices/${invoice}`,
      `/ui/consumptions/${consumption}`,
      '/ui/invoices',
      '/ui/reports',
      '/ui/webhooks',
      '/ui/webhooks/new',
      '/ui/api-keys',
      '/ui/audit',
    ];
    const found: Record<string, string[]> = {};
    for (const path of paths) {
      const page = await request(path, jar);
      expect(page.status, path).toBe(200);
      // a whole-number field's default or kept value too (a package's priority "٥٠", not "50")
      const fieldValues = [...page.text.matchAll(/<input\b[^>]*>/g)]
        .map(([tag]) => tag)
        .filter((tag) => tag.includes('inputmode="numeric"'))
        .map((tag) => /\svalue="([^"]*)"/.exec(tag)?.[1] ?? '')
        .filter((value) => /[0-9]/.test(value));
      const left = [...westernDigits(page.text), ...fieldValues];
      if (left.length > 0) found[path] = left;
    }
    expect(found).toEqual({});
    // the defaults of a new package, and of a credit type's decimals, in the page's digits (read back as typed)
    const form = (await request('/ui/packages/new', jar)).text;
    expect(form).toMatch(/name="validity\.count" value="١"/);
    expect(form).toMatch(/name="priority" value="٥٠"/);
    expect(form).toMatch(/name="low_balance_percent" value="١٠"/);
    expect((await request('/ui/credit-types', jar)).text).toMatch(/name="decimals" value="٠"/);
  });
});
