import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../../src/commands/index.js';
import { asciiDigits, integerField } from '../../src/ui/form.js';
import { amountProblemOf, majorFromMinor, minorFromMajor } from '../../src/ui/pages/amounts.js';
import { metadataFromLines } from '../../src/ui/pages/client-form.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { countRows, createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';
import { Receiver } from '../helpers/receiver.js';

/**
 * The operator's setup workflow over plain HTTP (issue 18): credit types, packages, clients and webhook
 * endpoints created and changed with the pages' forms, each write checked against the API afterwards;
 * bad values answered 422 with the field's message beside the field and nothing written, a taken code
 * 409, a double submit acted on once, a form without its CSRF token refused.
 */
const NOW = '2026-05-10T09:00:00.000Z';
let app: TestApp;
let receiver: Receiver;
let session: string;

interface Page {
  status: number;
  text: string;
  location: string | null;
  cookies: string[];
}

type Form = Record<string, string | string[]>;

async function get(path: string, cookie = session): Promise<Page> {
  const res = await fetch(`${app.baseUrl}${path}`, { headers: { accept: 'text/html', cookie }, redirect: 'manual' });
  return { status: res.status, text: await res.text(), location: res.headers.get('location'), cookies: [] };
}

async function post(path: string, form: Form, cookie = session): Promise<Page> {
  const body = new URLSearchParams();
  for (const [name, value] of Object.entries(form))
    for (const one of Array.isArray(value) ? value : [value]) body.append(name, one);
  const res = await fetch(`${app.baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html', cookie },
    body: body.toString(),
    redirect: 'manual',
  });
  return {
    status: res.status,
    text: await res.text(),
    location: res.headers.get('location'),
    cookies: res.headers.getSetCookie(),
  };
}

const cookieValue = (cookies: string[], name: string): string | undefined =>
  cookies
    .find((c) => c.startsWith(`${name}=`))
    ?.split(';')[0]
    ?.slice(name.length + 1);
const hidden = (html: string, name: string): string =>
  new RegExp(`name="${name}" value="([^"]+)"`).exec(html)?.[1] ?? '';

/** The hidden fields of the page's form: its CSRF token and (a creating form) its one-time key. */
async function formOn(path: string): Promise<{ csrf: string; idem: string; text: string }> {
  const page = await get(path);
  expect(page.status, page.text).toBe(200);
  return { csrf: hidden(page.text, 'csrf'), idem: hidden(page.text, 'idem'), text: page.text };
}

async function signIn(): Promise<string> {
  const res = await fetch(`${app.baseUrl}/ui/login`, { headers: { accept: 'text/html' } });
  const text = await res.text();
  const login = cookieValue(res.headers.getSetCookie(), 'credits_ui_login')!;
  const signed = await post(
    '/ui/login',
    { csrf: hidden(text, 'csrf'), key: app.keys.admin, next: '/ui' },
    `credits_ui_login=${login}`,
  );
  expect(signed.status, signed.text).toBe(303);
  return `credits_ui=${cookieValue(signed.cookies, 'credits_ui')}`;
}

const api = async (path: string) => {
  const res = await app.request('GET', path, { key: app.keys.read });
  return res;
};

/** The message shown beside a field, and the field marked invalid and described by it. */
function expectFieldError(html: string, field: string, message: RegExp): void {
  const id = `error-${field.replace(/[^\w-]/g, '-')}`;
  const beside = new RegExp(`<p class="field-error" id="${id}" role="alert">(.*?)</p>`, 's').exec(html);
  expect(beside, `no message beside ${field}`).not.toBeNull();
  expect(beside![1]!.replace(/<[^>]+>/g, '')).toMatch(message);
  const control = new RegExp(`<(?:input|textarea|select)[^>]*name="${field.replace(/\./g, '\\.')}"[^>]*>`).exec(html);
  expect(control?.[0], `no control named ${field}`).toMatch(/aria-invalid="true"/);
  expect(control?.[0]).toMatch(new RegExp(`aria-describedby="(?:[\\w-]+ )*${id}(?: [\\w-]+)*"`));
}

beforeAll(async () => {
  app = await startTestApp({
    roles: ['api', 'worker'],
    now: NOW,
    env: { WEBHOOK_BACKOFF_MS: '50', WEBHOOK_MAX_ATTEMPTS: '2', WEBHOOK_ALLOW_PRIVATE: 'true' },
  });
  receiver = new Receiver();
  await receiver.start();
  session = await signIn();
});
afterAll(async () => {
  await app.close();
  receiver.stop();
});

describe('integers typed in the pages', () => {
  it('read Arabic-Indic and Persian digits as the number (validity count, priority), other text as text', () => {
    expect(integerField({ count: '١٢' }, 'count')).toBe(12);
    expect(integerField({ count: '۳۰' }, 'count')).toBe(30);
    expect(integerField({ priority: '-3' }, 'priority')).toBe(-3);
    // not an integer: handed over as text for the route's schema to refuse with its own message
    expect(integerField({ count: '١٫٥' }, 'count')).toBe('1.5');
    expect(integerField({ count: 'twelve' }, 'count')).toBe('twelve');
    expect(integerField({}, 'count')).toBeUndefined();
  });
});

describe('amounts typed in major units', () => {
  it('become minor-unit digits exactly, by the currency’s ISO 4217 digits, never through a float', () => {
    expect(minorFromMajor('49', 'USD')).toBe('4900');
    expect(minorFromMajor('49.9', 'USD')).toBe('4990');
    expect(minorFromMajor('0.07', 'USD')).toBe('7');
    expect(minorFromMajor('.5', 'USD')).toBe('50');
    expect(minorFromMajor('12.345', 'KWD')).toBe('12345');
    expect(minorFromMajor('1500', 'JPY')).toBe('1500');
    // beyond a float's exact integers, still exact (the route then says it is above its maximum)
    expect(minorFromMajor('90071992547409.93', 'USD')).toBe('9007199254740993');
    expect(minorFromMajor('١٢٫٥', 'SAR')).toBe('1250');
    expect(asciiDigits('۱۲۳')).toBe('123');
    expect(minorFromMajor('١٬٢٣٤٫٥', 'SAR')).toBe('123450');
    for (const bad of ['12.345', '-1', '1e3', 'abc', '', '1,5', '10.5.1'])
      expect(minorFromMajor(bad, 'USD'), bad).toBeUndefined();
    // however large, an amount is its minor digits, above the largest the route takes: never the text as typed,
    // which the route would read as that many cents
    expect(minorFromMajor('100000000000000', 'USD')).toBe('10000000000000000');
    expect(minorFromMajor('99999999999999999', 'USD')).toBe('9999999999999999900');
    expect(amountProblemOf('10000000000000000')).toBe('above_largest');
    expect(amountProblemOf(minorFromMajor('10000000000000', 'USD'))).toBeUndefined();
    expect(amountProblemOf(minorFromMajor('10000000000000.01', 'USD'))).toBe('above_largest');
    expect(amountProblemOf(minorFromMajor('12.345', 'USD'))).toBe('not_an_amount');
    expect(minorFromMajor('10.5', 'JPY')).toBeUndefined();
    expect(majorFromMinor(4990n, 'USD')).toBe('49.90');
    expect(majorFromMinor(12345, 'KWD')).toBe('12.345');
  });

  it('metadata lines are key=value', () => {
    expect(metadataFromLines('tier = gold\n\nregion=east=1')).toEqual({ tier: 'gold', region: 'east=1' });
    expect(metadataFromLines('no equals sign')).toBeUndefined();
    expect(metadataFromLines('=value')).toBeUndefined();
  });
});

describe('credit types', () => {
  it('creates one with the form: listed, and the API agrees', async () => {
    const form = await formOn('/ui/credit-types');
    expect(form.idem).toMatch(/^[\w-]{8,}$/);
    const res = await post('/ui/credit-types', {
      csrf: form.csrf,
      idem: form.idem,
      code: 'ui-sms',
      name: 'SMS',
      unit: 'message',
      decimals: '0',
      dimensions: 'branch, employee',
    });
    expect(res.status, res.text).toBe(303);
    expect(res.location).toBe('/ui/credit-types?notice=credit_type_created');
    const view = await api('/v1/credit-types/ui-sms');
    expect(view.body).toMatchObject({
      code: 'ui-sms',
      name: 'SMS',
      unit: 'message',
      decimals: 0,
      archived: false,
      dimensions: ['branch', 'employee'],
    });
    const list = await get(res.location!);
    expect(list.text).toContain('data-notice="credit_type_created"');
    expect(list.text).toContain('data-credit-type="ui-sms"');
  });

  it('answers bad values 422 with each message beside its field, the values kept, nothing created', async () => {
    const before = await countRows(app, 'credit_types');
    const form = await formOn('/ui/credit-types');
    const res = await post('/ui/credit-types', {
      csrf: form.csrf,
      idem: form.idem,
      code: 'Bad Code',
      name: '',
      unit: 'hour',
      decimals: '9',
      dimensions: 'branch, day',
    });
    expect(res.status, res.text).toBe(422);
    expectFieldError(res.text, 'code', /lower|a-z|characters/);
    expectFieldError(res.text, 'name', /Required/);
    expectFieldError(res.text, 'decimals', /6/);
    expect(res.text).toMatch(
      /<div class="field-error" id="error-dimensions" role="alert"><p><code dir="ltr">day<\/code>/,
    );
    expect(res.text).toContain('value="Bad Code"');
    expect(res.text).toContain('value="branch, day"');
    expect(res.text).toContain(`value="${form.idem}"`);
    expect(await countRows(app, 'credit_types')).toBe(before);
  });

  it("tells a number out of range or not a number in the page's words, never zod's (English and Arabic)", async () => {
    const bad = async (lang: string, decimals: string) => {
      const form = await formOn(`/ui/credit-types?lang=${lang}`);
      const res = await post(`/ui/credit-types?lang=${lang}`, {
        csrf: form.csrf,
        idem: form.idem,
        code: `ui-range-${lang}`,
        name: 'Range',
        unit: 'hour',
        decimals,
      });
      expect(res.status, res.text).toBe(422);
      expect(res.text).not.toMatch(/Too big|Too small|Invalid input/);
      return res.text;
    };
    expectFieldError(await bad('en', '9'), 'decimals', /^Must be at most 6\.$/);
    expectFieldError(await bad('en', '2.5'), 'decimals', /^Must be a number\.$/);
    expectFieldError(await bad('ar', '9'), 'decimals', /^يجب ألا تزيد القيمة على ٦\.$/);
    expectFieldError(await bad('ar', '2.5'), 'decimals', /^يجب أن تكون القيمة عددًا\.$/);
  });

  it('answers a taken code 409 with a clear message, and a double submit creates once', async () => {
    const before = await countRows(app, 'credit_types');
    const taken = await formOn('/ui/credit-types');
    const conflict = await post('/ui/credit-types', {
      csrf: taken.csrf,
      idem: taken.idem,
      code: 'ui-sms',
      name: 'Other',
      unit: 'message',
    });
    expect(conflict.status, conflict.text).toBe(409);
    expect(conflict.text).toContain('A credit type with this code exists already');
    expectFieldError(conflict.text, 'code', /^Taken already: choose another\.$/);
    expect(await countRows(app, 'credit_types')).toBe(before);

    const form = await formOn('/ui/credit-types');
    const fields = { csrf: form.csrf, idem: form.idem, code: 'ui-voice', name: 'Voice', unit: 'minute', decimals: '1' };
    const [first, second] = await Promise.all([post('/ui/credit-types', fields), post('/ui/credit-types', fields)]);
    expect([first.status, second.status]).toEqual([303, 303]);
    expect(await countRows(app, 'credit_types')).toBe(before + 1);
    const again = await post('/ui/credit-types', fields);
    expect(again.status).toBe(303);
    expect(await countRows(app, 'credit_types')).toBe(before + 1);
    expect((await api('/v1/credit-types/ui-voice')).body).toMatchObject({ decimals: 1, unit: 'minute' });

    // the Back button, a value changed, sent again under the key that made ui-voice: refused (409), and the form
    // comes back with a new key — under the old one every later send (a reload of the posted page too) met the same
    const changed = await post('/ui/credit-types', { ...fields, code: 'ui-voice2' });
    expect(changed.status).toBe(409);
    expect(changed.text).toContain('it has a new key now, send it again');
    const renewed = hidden(changed.text, 'idem');
    expect(renewed).toMatch(/^[\w-]{8,}$/);
    expect(renewed).not.toBe(form.idem);
    const resent = await post('/ui/credit-types', { ...fields, idem: renewed, code: 'ui-voice2' });
    expect(resent.status, resent.text.slice(0, 500)).toBe(303);
    expect(await countRows(app, 'credit_types')).toBe(before + 2);
  });

  it('refuses a form without its CSRF token (403), writing nothing', async () => {
    const before = await countRows(app, 'credit_types');
    const form = await formOn('/ui/credit-types');
    const res = await post('/ui/credit-types', { idem: form.idem, code: 'ui-nocsrf', name: 'X', unit: 'x' });
    expect(res.status).toBe(403);
    const wrong = await post('/ui/credit-types', { csrf: 'x'.repeat(43), code: 'ui-nocsrf', name: 'X', unit: 'x' });
    expect(wrong.status).toBe(403);
    expect(await countRows(app, 'credit_types')).toBe(before);
  });

  it('edits the name, unit and dimensions, archives and brings it back; the API agrees', async () => {
    const id = (await api('/v1/credit-types/ui-sms')).body.id as string;
    const form = await formOn(`/ui/credit-types/${id}`);
    expect(form.text).toContain('value="branch, employee"');
    const bad = await post(`/ui/credit-types/${id}`, {
      csrf: form.csrf,
      name: 'Text messages',
      unit: 'message',
      dimensions: 'a, b, c, d, e, f',
    });
    expect(bad.status, bad.text).toBe(422);
    expect(bad.text).toContain('At most 5 dimensions.');
    expect(bad.text).toContain('value="Text messages"');
    expect((await api(`/v1/credit-types/${id}`)).body.name).toBe('SMS');

    const res = await post(`/ui/credit-types/${id}`, {
      csrf: form.csrf,
      name: 'Text messages',
      unit: 'sms',
      dimensions: 'branch',
    });
    expect(res.status, res.text).toBe(303);
    expect(res.location).toBe('/ui/credit-types?notice=credit_type_updated');
    expect((await api(`/v1/credit-types/${id}`)).body).toMatchObject({
      name: 'Text messages',
      unit: 'sms',
      dimensions: ['branch'],
      decimals: 0,
    });
    const same = await post(`/ui/credit-types/${id}`, {
      csrf: form.csrf,
      name: 'Text messages',
      unit: 'sms',
      dimensions: 'branch',
    });
    expect(same.location).toBe('/ui/credit-types?notice=credit_type_unchanged');

    const archived = await post(`/ui/credit-types/${id}/archive`, { csrf: form.csrf, archived: 'true' });
    expect(archived.location).toBe('/ui/credit-types?notice=credit_type_archived');
    expect((await api(`/v1/credit-types/${id}`)).body.archived).toBe(true);
    const back = await post(`/ui/credit-types/${id}/archive`, { csrf: form.csrf, archived: 'false' });
    expect(back.location).toBe('/ui/credit-types?notice=credit_type_unarchived');
    expect((await api(`/v1/credit-types/${id}`)).body.archived).toBe(false);

    expect((await get('/ui/credit-types/no-such-type')).status).toBe(404);
    expect((await post('/ui/credit-types/no-such-type', { csrf: form.csrf, name: 'x' })).status).toBe(404);
  });

  it('speaks Arabic, right to left, refusals included', async () => {
    const page = await get('/ui/credit-types?lang=ar');
    expect(page.text).toContain('<html lang="ar" dir="rtl">');
    expect(page.text).toContain('نوع رصيد جديد');
    expect(page.text).toContain('>الرمز<');
    const bad = await post('/ui/credit-types?lang=ar', {
      csrf: hidden(page.text, 'csrf'),
      idem: hidden(page.text, 'idem'),
      code: 'ui-sms',
      name: 'رسائل',
      unit: 'رسالة',
    });
    expect(bad.status).toBe(409);
    expect(bad.text).toContain('يوجد نوع رصيد بهذا الرمز مسبقًا');
    expect(bad.text).toContain('value="رسائل"');
  });
});

describe('packages', () => {
  const packageForm = (csrf: string, idem: string, overrides: Form = {}): Form => ({
    csrf,
    idem,
    code: 'ui-starter',
    name: 'Starter',
    description: 'Two kinds of credit',
    currency: 'USD',
    price: '49.90',
    recharge_price: '10',
    'validity.count': '1',
    'validity.unit': 'month',
    'items.0.credit_type': 'ui-sms',
    'items.0.units': '1000',
    'items.1.credit_type': '',
    'items.1.units': '',
    'items.2.credit_type': 'ui-voice',
    'items.2.units': '2.50',
    'rollover.policy': 'percent',
    'rollover.percent': '50',
    'rollover.cap_percent': '20',
    priority: '10',
    max_freeze_days: '7',
    low_balance_percent: '15',
    auto_renew: 'on',
    ...overrides,
  });

  it('creates a package with two items from the form; the API agrees to the cent', async () => {
    const form = await formOn('/ui/packages/new');
    expect(form.text).toContain('name="items.4.units"');
    expect(form.text).toContain('<option value="islamic-umalqura" dir="auto">');
    const res = await post('/ui/packages/new', packageForm(form.csrf, form.idem));
    expect(res.status, res.text).toBe(303);
    expect(res.location).toMatch(/^\/ui\/packages\/[0-9a-f-]{36}\?notice=package_created$/);
    const view = (await api('/v1/packages/ui-starter')).body;
    expect(view).toMatchObject({
      name: 'Starter',
      description: 'Two kinds of credit',
      price: 4990,
      recharge_price: 1000,
      currency: 'USD',
      validity: { count: 1, unit: 'month' },
      rollover: { policy: 'percent', percent: 50, cap_percent: 20 },
      priority: 10,
      max_freeze_days: 7,
      low_balance_percent: 15,
      auto_renew: true,
      status: 'active',
    });
    expect(
      view.items.map((i: { credit_type: { code: string }; units: string }) => [i.credit_type.code, i.units]),
    ).toEqual([
      ['ui-sms', '1000'],
      ['ui-voice', '2.5'],
    ]);
    expect(res.location!.startsWith(`/ui/packages/${view.id}`)).toBe(true);
    // the page the form went to says what was done, and shows every term the form set
    const shown = (await get(res.location!)).text;
    expect(shown).toContain('data-notice="package_created"');
    expect(shown).toContain('<dt>Freeze days per period</dt><dd>7</dd>');
    expect(shown).toContain('<dt>Low balance warning</dt><dd>When 15% of a balance or less is left</dd>');
    const list = await get('/ui/packages');
    expect(list.text).toContain('href="/ui/packages/new"');
    expect(list.text).toContain('Starter');
  });

  it('reads a 3-decimal currency exactly (KWD 12.345 is 12345 fils)', async () => {
    const form = await formOn('/ui/packages/new');
    const res = await post(
      '/ui/packages/new',
      packageForm(form.csrf, form.idem, { code: 'ui-kwd', currency: 'KWD', price: '12.345', recharge_price: '' }),
    );
    expect(res.status, res.text).toBe(303);
    expect((await api('/v1/packages/ui-kwd')).body).toMatchObject({ price: 12345, recharge_price: 12345 });
  });

  it('answers bad values 422 beside their fields (row numbers as on the form), creating nothing', async () => {
    const before = await countRows(app, 'packages');
    const form = await formOn('/ui/packages/new');
    const res = await post(
      '/ui/packages/new',
      packageForm(form.csrf, form.idem, {
        code: 'ui-bad',
        price: '12.345',
        'items.2.units': 'lots',
        'validity.count': '0',
        'rollover.percent': '',
        priority: 'high',
      }),
    );
    expect(res.status, res.text).toBe(422);
    expectFieldError(res.text, 'price', /at most 2 decimal places/);
    expectFieldError(res.text, 'items.2.units', /./);
    expectFieldError(res.text, 'validity.count', /./);
    expectFieldError(res.text, 'priority', /./);
    expect(res.text).toContain('value="12.345"');
    expect(res.text).toContain('value="lots"');
    expect(res.text).toMatch(/<option value="ui-voice" dir="auto" selected>/);
    expect(await countRows(app, 'packages')).toBe(before);

    const noItems = await post(
      '/ui/packages/new',
      packageForm(form.csrf, form.idem, {
        code: 'ui-empty',
        'items.0.credit_type': '',
        'items.0.units': '',
        'items.2.credit_type': '',
        'items.2.units': '',
      }),
    );
    expect(noItems.status).toBe(422);
    expect(noItems.text).toContain('at least one item');
    // a price left empty is "Required.", not the route's words about minor units
    const noPrice = await post('/ui/packages/new', packageForm(form.csrf, form.idem, { code: 'ui-free', price: '' }));
    expect(noPrice.status).toBe(422);
    expectFieldError(noPrice.text, 'price', /^Required\.$/);
    expect(await countRows(app, 'packages')).toBe(before);
  });

  it("tells freeze days, rollover percent, validity and priority out of range in the page's words", async () => {
    for (const lang of ['en', 'ar'] as const) {
      const form = await formOn(`/ui/packages/new?lang=${lang}`);
      const res = await post(
        `/ui/packages/new?lang=${lang}`,
        packageForm(form.csrf, form.idem, {
          code: `ui-range-${lang}`,
          max_freeze_days: 'abc',
          'rollover.percent': '150',
          'validity.count': '0',
          priority: '150',
        }),
      );
      expect(res.status, res.text).toBe(422);
      expect(res.text).not.toMatch(/Too big|Too small|Invalid input/);
      if (lang === 'en') {
        expectFieldError(res.text, 'max_freeze_days', /^Must be a number\.$/);
        expectFieldError(res.text, 'rollover.percent', /^Must be at most 100\.$/);
        expectFieldError(res.text, 'validity.count', /^Must be at least 1\.$/);
        expectFieldError(res.text, 'priority', /^Must be at most 100\.$/);
      } else {
        expectFieldError(res.text, 'max_freeze_days', /^يجب أن تكون القيمة عددًا\.$/);
        expectFieldError(res.text, 'rollover.percent', /^يجب ألا تزيد القيمة على ١٠٠\.$/);
        expectFieldError(res.text, 'validity.count', /^يجب ألا تقل القيمة عن ١\.$/);
        expectFieldError(res.text, 'priority', /^يجب ألا تزيد القيمة على ١٠٠\.$/);
      }
    }
  });

  it("tells the items' rules in the same answer as the fields' formats, not in a second round", async () => {
    const before = await countRows(app, 'packages');
    for (const lang of ['en', 'ar'] as const) {
      const form = await formOn(`/ui/packages/new?lang=${lang}`);
      const res = await post(
        `/ui/packages/new?lang=${lang}`,
        packageForm(form.csrf, form.idem, {
          code: `ui-rounds-${lang}`,
          price: 'abc',
          'items.0.units': '10.5',
          'items.2.units': '-2',
          'items.3.credit_type': 'ui-sms',
          'items.3.units': '5',
        }),
      );
      expect(res.status, res.text).toBe(422);
      expect(res.text).toContain('id="error-price"');
      if (lang === 'en') {
        expectFieldError(res.text, 'items.0.units', /^Must be a whole number for this credit type\.$/);
        expectFieldError(res.text, 'items.2.units', /negative/);
        expectFieldError(res.text, 'items.3.credit_type', /appears more than once/);
      } else {
        expectFieldError(res.text, 'items.0.units', /^يجب أن تكون عددًا صحيحًا لنوع الرصيد هذا\.$/);
        expectFieldError(res.text, 'items.2.units', /^يجب ألا تكون القيمة سالبة\.$/);
        expectFieldError(res.text, 'items.3.credit_type', /^نوع الرصيد ui-sms مكرر في الباقة\.$/);
      }
    }
    expect(await countRows(app, 'packages')).toBe(before);
  });

  it('answers a taken code 409, and a double submit creates once', async () => {
    const before = await countRows(app, 'packages');
    const form = await formOn('/ui/packages/new');
    const taken = await post('/ui/packages/new', packageForm(form.csrf, form.idem));
    expect(taken.status, taken.text).toBe(409);
    expect(taken.text).toContain('A package with this code exists already');
    const fresh = await formOn('/ui/packages/new');
    const fields = packageForm(fresh.csrf, fresh.idem, { code: 'ui-twice' });
    const [first, second] = await Promise.all([post('/ui/packages/new', fields), post('/ui/packages/new', fields)]);
    expect([first.status, second.status]).toEqual([303, 303]);
    expect(first.location).toBe(second.location);
    expect(await countRows(app, 'packages')).toBe(before + 1);
    const noCsrf = await post('/ui/packages/new', { ...fields, csrf: '', code: 'ui-nocsrf' });
    expect(noCsrf.status).toBe(403);
    expect(await countRows(app, 'packages')).toBe(before + 1);
  });

  it('edits the package: the form shows it as stored, and only what changed is sent', async () => {
    const form = await formOn('/ui/packages/ui-starter/edit');
    expect(form.text).toContain('name="price" value="49.90"');
    expect(form.text).toContain('name="items.2.units"');
    expect(form.text).toMatch(/<option value="ui-voice" dir="auto" selected>/);
    const id = (await api('/v1/packages/ui-starter')).body.id as string;
    const stored: Form = {
      csrf: form.csrf,
      name: 'Starter',
      description: 'Two kinds of credit',
      price: '49.9',
      recharge_price: '10.00',
      'validity.count': '1',
      'validity.unit': 'month',
      'validity.calendar': 'gregory',
      'items.0.credit_type': 'ui-sms',
      'items.0.units': '1000',
      'items.1.credit_type': 'ui-voice',
      'items.1.units': '2.50',
      'rollover.policy': 'percent',
      'rollover.percent': '50',
      'rollover.cap_percent': '20',
      priority: '10',
      max_freeze_days: '7',
      low_balance_percent: '15',
      auto_renew: 'on',
    };
    const unchanged = await post('/ui/packages/ui-starter/edit', stored);
    expect(unchanged.location).toBe(`/ui/packages/${id}?notice=package_unchanged`);
    const updatedBefore = (await api(`/v1/packages/${id}`)).body.updated_at;
    expect(updatedBefore).toBeDefined();

    const bad = await post('/ui/packages/ui-starter/edit', { ...stored, price: 'free' });
    expect(bad.status, bad.text).toBe(422);
    expectFieldError(bad.text, 'price', /decimal places/);
    expect(bad.text).toContain('name="price" value="free"');
    // the units are checked against the credit type's decimals by the service, after the schema
    const units = await post('/ui/packages/ui-starter/edit', { ...stored, price: '60', 'items.1.units': '2.555' });
    expect(units.status, units.text).toBe(422);
    expectFieldError(units.text, 'items.1.units', /decimal/);
    expect((await api(`/v1/packages/${id}`)).body.price).toBe(4990);
    // text Postgres cannot store, in a credit type the form names: refused beside it, not a 500
    const nul = await post('/ui/packages/ui-starter/edit', { ...stored, 'items.1.credit_type': 'ui-\u0000voice' });
    expect(nul.status, nul.text.slice(0, 300)).toBe(422);
    expect(nul.text).toContain('id="error-items-1-credit_type"');

    const res = await post('/ui/packages/ui-starter/edit', {
      ...stored,
      name: 'Starter plus',
      price: '59',
      'items.1.credit_type': '',
      'items.1.units': '',
      'rollover.policy': 'none',
      auto_renew: [],
      max_freeze_days: '',
    });
    expect(res.status, res.text).toBe(303);
    expect(res.location).toBe(`/ui/packages/${id}?notice=package_updated`);
    const view = (await api(`/v1/packages/${id}`)).body;
    expect(view).toMatchObject({
      name: 'Starter plus',
      price: 5900,
      recharge_price: 1000,
      rollover: { policy: 'none' },
      auto_renew: false,
      max_freeze_days: null,
      priority: 10,
    });
    expect(view.items).toHaveLength(1);

    const archived = await post(`/ui/packages/${id}/archive`, { csrf: form.csrf, status: 'archived' });
    expect(archived.location).toBe(`/ui/packages/${id}?notice=package_archived`);
    expect((await api(`/v1/packages/${id}`)).body.status).toBe('archived');
    const back = await post(`/ui/packages/${id}/archive`, { csrf: form.csrf, status: 'active' });
    expect(back.location).toBe(`/ui/packages/${id}?notice=package_unarchived`);
    expect((await api(`/v1/packages/${id}`)).body.status).toBe('active');
    expect((await get('/ui/packages/no-such/edit')).status).toBe(404);
  });

  it('counts a validity in Hijri months when asked (a Ramadan package)', async () => {
    const form = await formOn('/ui/packages/new');
    const res = await post(
      '/ui/packages/new',
      packageForm(form.csrf, form.idem, { code: 'ui-ramadan', 'validity.calendar': 'islamic-umalqura' }),
    );
    expect(res.status, res.text).toBe(303);
    expect((await api('/v1/packages/ui-ramadan')).body.validity).toMatchObject({ calendar: 'islamic-umalqura' });
    // a Hijri day is a day: refused beside the calendar
    const again = await formOn('/ui/packages/new');
    const day = await post(
      '/ui/packages/new',
      packageForm(again.csrf, again.idem, {
        code: 'ui-hijri-day',
        'validity.unit': 'day',
        'validity.calendar': 'islamic-umalqura',
      }),
    );
    expect(day.status, day.text).toBe(422);
    expectFieldError(
      day.text,
      'validity.calendar',
      /^A calendar applies to months and years only: a day or a week is the same in every calendar\.$/,
    );
  });

  it('shows the package form in Arabic, right to left', async () => {
    const page = await get('/ui/packages/new?lang=ar');
    expect(page.text).toContain('<html lang="ar" dir="rtl">');
    expect(page.text).toContain('إنشاء الباقة');
    expect(page.text).toContain('نوع الرصيد ١');
  });
});

describe('clients', () => {
  it('creates a client with its metadata; the API agrees', async () => {
    const form = await formOn('/ui/clients/new');
    const res = await post('/ui/clients/new', {
      csrf: form.csrf,
      idem: form.idem,
      external_ref: 'crm-77',
      name: 'شركة الأفق',
      email: 'info@ufuq.example',
      metadata: 'tier=gold\r\nregion = east',
    });
    expect(res.status, res.text).toBe(303);
    const view = (await api('/v1/clients/crm-77')).body;
    expect(res.location).toBe(`/ui/clients/${view.id}?notice=client_created`);
    expect(view).toMatchObject({
      name: 'شركة الأفق',
      email: 'info@ufuq.example',
      metadata: { tier: 'gold', region: 'east' },
    });
    // the same form again (a double submit) answers the same, and creates nothing more
    const before = await countRows(app, 'clients');
    const again = await post('/ui/clients/new', {
      csrf: form.csrf,
      idem: form.idem,
      external_ref: 'crm-77',
      name: 'شركة الأفق',
      email: 'info@ufuq.example',
      metadata: 'tier=gold\r\nregion = east',
    });
    expect(again.location).toBe(res.location);
    expect(await countRows(app, 'clients')).toBe(before);
    expect((await get('/ui/clients')).text).toContain('href="/ui/clients/new"');
  });

  it('does not overwrite a client whose external ref is taken: 409 with a link to it', async () => {
    const id = (await api('/v1/clients/crm-77')).body.id as string;
    const form = await formOn('/ui/clients/new');
    const res = await post('/ui/clients/new', {
      csrf: form.csrf,
      idem: form.idem,
      external_ref: 'crm-77',
      name: 'Somebody else',
    });
    expect(res.status, res.text).toBe(409);
    expect(res.text).toContain('A client with this external reference exists already');
    expect(res.text).toContain(`href="/ui/clients/${id}/edit"`);
    expect(res.text).toContain('value="Somebody else"');
    expect((await api('/v1/clients/crm-77')).body.name).toBe('شركة الأفق');
  });

  it('answers a bad e-mail or metadata 422 beside the field, creating nothing', async () => {
    const before = await countRows(app, 'clients');
    const form = await formOn('/ui/clients/new');
    const res = await post('/ui/clients/new', {
      csrf: form.csrf,
      idem: form.idem,
      external_ref: 'crm-78',
      name: 'Acme',
      email: 'not-an-address',
      metadata: 'just text',
    });
    expect(res.status, res.text).toBe(422);
    expectFieldError(res.text, 'email', /e-mail/);
    expectFieldError(res.text, 'metadata', /key=value/);
    expect(res.text).toContain('just text</textarea>');
    // text Postgres cannot store is refused beside its field, as the HTTP edge refuses it
    const nul = await post('/ui/clients/new', {
      csrf: form.csrf,
      idem: form.idem,
      external_ref: 'crm-79',
      name: 'A\u0000B',
    });
    expect(nul.status, nul.text).toBe(422);
    expect(nul.text).toContain('id="error-name"');
    const nulRef = await post('/ui/clients/new', { csrf: form.csrf, idem: form.idem, external_ref: 'crm\u000079' });
    expect(nulRef.status, nulRef.text.slice(0, 300)).toBe(422);
    expect(nulRef.text).toContain('id="error-external_ref"');
    expect(await countRows(app, 'clients')).toBe(before);
  });

  it('edits a client: name, e-mail, metadata; the API agrees', async () => {
    const id = (await api('/v1/clients/crm-77')).body.id as string;
    const form = await formOn(`/ui/clients/crm-77/edit`);
    expect(form.text).toContain('tier=gold\nregion=east</textarea>');
    const same = await post(`/ui/clients/crm-77/edit`, {
      csrf: form.csrf,
      name: 'شركة الأفق',
      email: 'info@ufuq.example',
      metadata: 'tier=gold\nregion=east',
    });
    expect(same.location).toBe(`/ui/clients/${id}?notice=client_unchanged`);
    const bad = await post(`/ui/clients/crm-77/edit`, { csrf: form.csrf, name: '', email: 'x', metadata: '' });
    expect(bad.status).toBe(422);
    expectFieldError(bad.text, 'name', /^Required\.$/);
    const res = await post(`/ui/clients/crm-77/edit`, {
      csrf: form.csrf,
      name: 'Al Ufuq Co.',
      email: '',
      metadata: 'tier=silver',
    });
    expect(res.status, res.text).toBe(303);
    expect(res.location).toBe(`/ui/clients/${id}?notice=client_updated`);
    expect((await api(`/v1/clients/${id}`)).body).toMatchObject({
      name: 'Al Ufuq Co.',
      email: null,
      metadata: { tier: 'silver' },
    });
    expect((await get(`/ui/clients/${id}`)).text).toContain(`href="/ui/clients/${id}/edit"`);
  });
});

describe('webhook endpoints', () => {
  let endpointId = '';

  it('adds an endpoint and shows its secret once, never again', async () => {
    const form = await formOn('/ui/webhooks/new');
    const bad = await post('/ui/webhooks/new', { csrf: form.csrf, idem: form.idem, url: 'not a url' });
    expect(bad.status, bad.text).toBe(422);
    expectFieldError(bad.text, 'url', /^Must be a web address starting with http\(s\):\/\/\.$/);
    expect(bad.text).toContain('id="error-events"');
    expect(await countRows(app, 'webhook_endpoints')).toBe(0);

    const res = await post('/ui/webhooks/new', {
      csrf: form.csrf,
      idem: form.idem,
      url: receiver.url,
      events: ['invoice.voided', 'invoice.paid'],
      description: 'billing system',
    });
    expect(res.status, res.text).toBe(201);
    const secret = /<code dir="ltr" data-secret>(whsec_[^<]+)<\/code>/.exec(res.text)?.[1];
    expect(secret).toBeDefined();
    const listed = await app.request('GET', '/v1/webhook-endpoints');
    expect(listed.body.data).toHaveLength(1);
    endpointId = listed.body.data[0].id;
    expect(listed.body.data[0]).toMatchObject({
      url: receiver.url,
      events: ['invoice.voided', 'invoice.paid'],
      description: 'billing system',
    });
    expect(listed.body.data[0].secret).not.toBe(secret);
    expect((await get('/ui/webhooks')).text).not.toContain(secret!);
    expect((await get('/ui/webhooks')).text).toContain(`href="/ui/webhooks/${endpointId}/deliveries"`);
    expect((await get(`/ui/webhooks/${endpointId}/deliveries`)).text).not.toContain(secret!);
  });

  it('lists deliveries with their attempts and last error, and retries one that failed', async () => {
    const sms = await createCreditType(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 5 }]);
    const client = await createClient(app);
    const sub = await subscribe(app, client.id, pkg.code);
    receiver.statuses = [503, 503];
    const seen = receiver.received.length;
    await app.request('POST', `/v1/invoices/${sub.invoice.id}/void`, { key: app.keys.write, body: {} });
    await receiver.until(seen + 2);
    const [delivery] = await app.database.db('webhook_deliveries').where({ endpoint_id: endpointId });
    const failed = await awaitOutcome(app.ctx, 'deliver', `delivery|${delivery!.id}`, { timeoutMs: 20_000 });
    expect(failed.state).toBe('failed');

    const page = await get(`/ui/webhooks/${endpointId}/deliveries`);
    expect(page.status).toBe(200);
    expect(page.text).toContain(`<tr data-delivery="${delivery!.id}">`);
    expect(page.text).toContain('invoice.voided');
    expect(page.text).toMatch(/<td class="num">2<\/td>/);
    expect(page.text).toContain('data-action="retry"');
    const csrf = hidden(page.text, 'csrf');

    // the endpoint was disabled by the failing delivery: the retry is refused until it is enabled
    const retryPath = `/ui/webhooks/${endpointId}/deliveries/${delivery!.id}/retry`;
    const refused = await post(retryPath, { csrf });
    expect(refused.status, refused.text).toBe(409);
    expect(refused.text).toContain('enable it first');
    expect((await post(retryPath, {})).status).toBe(403);

    expect((await app.request('POST', `/v1/webhook-endpoints/${endpointId}/enable`)).status).toBe(200);
    const retried = await post(retryPath, { csrf });
    expect(retried.status, retried.text).toBe(303);
    expect(retried.location).toBe(`/ui/webhooks/${endpointId}/deliveries?notice=delivery_retried`);
    const done = await awaitOutcome(app.ctx, 'deliver', `delivery|${delivery!.id}`, { timeoutMs: 20_000 });
    expect(done.state).toBe('completed');
    const deliveries = await app.request('GET', `/v1/webhook-endpoints/${endpointId}/deliveries`);
    expect(deliveries.body.data[0]).toMatchObject({ id: delivery!.id, status: 'delivered', attempts: 3 });
    const after = await get(`/ui/webhooks/${endpointId}/deliveries?notice=delivery_retried&lang=ar`);
    expect(after.text).toContain('dir="rtl"');
    expect(after.text).toContain('عادت الإرسالية إلى الانتظار');
    expect(after.text).toContain('سُلّمت');

    expect((await get('/ui/webhooks/00000000-0000-4000-8000-000000000000/deliveries')).status).toBe(404);
    const missing = await post(`/ui/webhooks/${endpointId}/deliveries/00000000-0000-4000-8000-000000000000/retry`, {
      csrf,
    });
    expect(missing.status).toBe(404);
  });

  it('still shows a deleted endpoint’s deliveries, saying it was deleted, with nothing left to retry', async () => {
    const sms = await createCreditType(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 5 }]);
    const sub = await subscribe(app, (await createClient(app)).id, pkg.code);
    const ofEndpoint = async () =>
      (await app.database.db('webhook_deliveries').where({ endpoint_id: endpointId })) as Array<{ id: string }>;
    const earlier = new Set((await ofEndpoint()).map((d) => d.id));
    receiver.statuses = [503, 503];
    const seen = receiver.received.length;
    await app.request('POST', `/v1/invoices/${sub.invoice.id}/void`, { key: app.keys.write, body: {} });
    await receiver.until(seen + 2);
    const rows = await ofEndpoint();
    const failed = rows.find((d) => !earlier.has(d.id))!;
    expect((await awaitOutcome(app.ctx, 'deliver', `delivery|${failed.id}`, { timeoutMs: 20_000 })).state).toBe(
      'failed',
    );
    const before = await get(`/ui/webhooks/${endpointId}/deliveries`);
    expect(before.text).toContain(`data-action="retry" data-delivery="${failed.id}"`);
    expect(before.text).toContain('data-action="enable"');

    expect((await app.request('DELETE', `/v1/webhook-endpoints/${endpointId}`)).status).toBe(204);
    expect((await get('/ui/webhooks')).text).not.toContain(`data-endpoint="${endpointId}"`);
    const page = await get(`/ui/webhooks/${endpointId}/deliveries`);
    expect(page.status, page.text).toBe(200);
    expect(page.text).toContain('data-endpoint-deleted');
    expect(page.text).toContain('This endpoint was deleted on');
    for (const row of rows) expect(page.text).toContain(`<tr data-delivery="${row.id}">`);
    // a retry would be refused (the endpoint is gone), and so would enabling it: neither is offered
    expect(page.text).not.toContain('data-action="retry"');
    expect(page.text).not.toContain('data-action="enable"');
    const arabic = await get(`/ui/webhooks/${endpointId}/deliveries?lang=ar`);
    expect(arabic.text).toContain('حُذف هذا العنوان في');
    // a retry sent from a page kept open is told why, on the page that still shows the endpoint's history
    const retry = await post(`/ui/webhooks/${endpointId}/deliveries/${failed.id}/retry`, {
      csrf: hidden(before.text, 'csrf'),
    });
    expect(retry.status, retry.text).toBe(409);
    expect(retry.text).toContain('The endpoint of this delivery was deleted.');
    expect(retry.text).toContain('data-endpoint-deleted');
  });
});
