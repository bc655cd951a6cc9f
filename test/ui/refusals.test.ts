import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../../src/commands/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';
import { Receiver } from '../helpers/receiver.js';
import { signInToUi } from '../helpers/ui-session.js';

/**
 * Every form of the pages refused the way a person meets it — each field's limits, a code taken, a credit type
 * archived or not found, a date that is not one, a package no longer sold, a state that does not allow the action —
 * sent as the browser sends the form (its own fields, the person's values over them), on an Arabic page and on an
 * English one: the refusal is said in the page's language, in the catalogue's words, its figures in the page's
 * digits. On the Arabic page no Latin letter and no Western digit is left in a refusal but inside a code (a value
 * the person typed or chose, a code of the catalogue) or a name isolated from the sentence (`<bdi>`: a credit type's
 * unit as the business typed it).
 */
const NOW = '2026-05-10T09:00:00.000Z';
let app: TestApp;
let receiver: Receiver;
let session = '';

const seeded = {
  sms: '',
  oldCreditType: '',
  starter: '',
  oldPackage: '',
  client: '',
  active: '',
  cancelled: '',
  voidBalance: '',
  activeBalance: '',
  paidInvoice: '',
  voidInvoice: '',
  issuedInvoice: '',
  rejected: '',
  endpoint: '',
  delivered: '',
};

type Lang = 'ar' | 'en';
type Form = Record<string, string | string[]>;
interface Answer {
  status: number;
  text: string;
  location: string | null;
}

const cookieFor = (lang: Lang) => `${session}; credits_lang=${lang}`;

async function get(path: string, lang: Lang): Promise<Answer> {
  const res = await fetch(`${app.baseUrl}${path}`, {
    headers: { accept: 'text/html', cookie: cookieFor(lang) },
    redirect: 'manual',
  });
  return { status: res.status, text: await res.text(), location: res.headers.get('location') };
}

async function post(path: string, form: Form, lang: Lang): Promise<Answer> {
  const body = new URLSearchParams();
  for (const [name, value] of Object.entries(form))
    for (const one of Array.isArray(value) ? value : [value]) body.append(name, one);
  const res = await fetch(`${app.baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html', cookie: cookieFor(lang) },
    body: body.toString(),
    redirect: 'manual',
  });
  return { status: res.status, text: await res.text(), location: res.headers.get('location') };
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", '#96': '`' };
const decode = (text: string) => text.replace(/&(amp|lt|gt|quot|#39|#96);/g, (_m, e: string) => ENTITIES[e] ?? '');
const attributes = (tag: string): Record<string, string> =>
  Object.fromEntries([...tag.matchAll(/([\w-]+)="([^"]*)"/g)].map((m) => [m[1]!, decode(m[2]!)]));

/**
 * What a browser sends for the page's form that posts to `action`: its inputs (a checkbox when ticked), its
 * textareas and its selects (the chosen option, else the first), as the page rendered them.
 */
function formOf(page: string, action: string): Form {
  const start = page.indexOf(`action="${action}"`);
  expect(start, `no form posting to ${action}`).toBeGreaterThan(-1);
  const markup = page.slice(start, page.indexOf('</form>', start));
  const form: Form = {};
  const add = (name: string, value: string) => {
    const kept = form[name];
    form[name] = kept === undefined ? value : [...(Array.isArray(kept) ? kept : [kept]), value];
  };
  for (const [tag] of markup.matchAll(/<input\b[^>]*>/g)) {
    const a = attributes(tag);
    if (!a.name || (a.type === 'checkbox' && !/\bchecked\b/.test(tag))) continue;
    add(a.name, a.value ?? '');
  }
  for (const m of markup.matchAll(/<textarea\b([^>]*)>([\s\S]*?)<\/textarea>/g)) {
    const a = attributes(m[1]!);
    if (a.name) add(a.name, decode(m[2]!));
  }
  for (const m of markup.matchAll(/<select\b([^>]*)>([\s\S]*?)<\/select>/g)) {
    const a = attributes(m[1]!);
    const options = [...m[2]!.matchAll(/<option\b([^>]*)>/g)].map((o) => ({
      value: attributes(o[1]!).value ?? '',
      selected: /\bselected\b/.test(o[1]!),
    }));
    if (a.name && options.length > 0) add(a.name, (options.find((o) => o.selected) ?? options[0]!).value);
  }
  return form;
}

/** The text of markup as a person reads it (a code's text included). */
const textOf = (markup: string): string =>
  decode(markup.replace(/<[^>]+>/g, ''))
    .replace(/\s+/g, ' ')
    .trim();

/** Where a refusal is said: beside a field (its name), beside a group of inputs (`group:dimensions`), or above. */
function messageAt(page: string, at: string): string | undefined {
  if (at === 'banner') {
    const block = /<div class="notice error"[^>]*>([\s\S]*?)<\/div>/.exec(page)?.[1];
    if (block === undefined) return undefined;
    const lead = /<p>([\s\S]*?)<\/p>/.exec(block)?.[1] ?? block.replace(/<ul>[\s\S]*<\/ul>/, '');
    return textOf(lead);
  }
  if (at.startsWith('group:')) {
    const id = `error-${at.slice('group:'.length)}`;
    const block = new RegExp(`<div class="field-error" id="${id}" role="alert">([\\s\\S]*?)</div>`).exec(page)?.[1];
    return block === undefined ? undefined : textOf(block);
  }
  const id = `error-${at.replace(/[^\w-]/g, '-')}`;
  const beside = new RegExp(`<p class="field-error" id="${id}" role="alert">([\\s\\S]*?)</p>`).exec(page)?.[1];
  return beside === undefined ? undefined : textOf(beside);
}

/**
 * Every refusal a page shows (its blocks above the forms, the messages beside the fields), codes and isolated names
 * taken out: a name left in the sentence (a Latin unit not isolated) is a Latin word of the refusal.
 */
function refusalProse(page: string): string[] {
  const blocks = [
    ...page.matchAll(/<div class="notice error"[^>]*>([\s\S]*?)<\/div>/g),
    ...page.matchAll(/<(p|div) class="field-error"[^>]*>([\s\S]*?)<\/\1>/g),
  ].map((m) => m[m.length - 1]!);
  return blocks.map((block) => {
    expect(block, 'a refusal marked English on an Arabic page').not.toContain('lang="en"');
    return textOf(block.replace(/<(code|kbd|bdi)\b[^>]*>[\s\S]*?<\/\1>/g, ' '));
  });
}

interface Case {
  /** The page whose form is sent, and where it posts. */
  page: () => string;
  action: () => string;
  /** The person's values over the form's own. */
  values: Form;
  status: number;
  /** Where the refusal is said (`messageAt`). */
  at: string;
  ar: string | RegExp;
  en: string | RegExp;
}

const long = (length: number) => 'x'.repeat(length);
/** The line of a refusal for the state of what a form acts on (commerce.refused.conflict), before its reason. */
const CONFLICT_EN = 'The request was refused: the current state does not allow it.';

const CASES: Record<string, Case> = {
  'a credit type’s name too long': {
    page: () => '/ui/credit-types',
    action: () => '/ui/credit-types',
    values: { code: 'fax', name: long(201), unit: 'page' },
    status: 422,
    at: 'name',
    ar: 'يجب ألا يزيد النص على ٢٠٠ حرف.',
    en: 'At most 200 characters.',
  },
  'a credit type’s code not a code': {
    page: () => '/ui/credit-types',
    action: () => '/ui/credit-types',
    values: { code: 'Fax Pages', name: 'Fax', unit: 'page' },
    status: 422,
    at: 'code',
    ar: 'من ١ إلى ٦٤ حرفًا من a-z و0-9 و_ و- و.، تبدأ بحرف أو رقم.',
    en: 'Must be 1 to 64 characters of a-z, 0-9, _, - and ., starting with a letter or digit.',
  },
  'a credit type’s decimals out of range': {
    page: () => '/ui/credit-types',
    action: () => '/ui/credit-types',
    values: { code: 'fax', name: 'Fax', unit: 'page', decimals: '9' },
    status: 422,
    at: 'decimals',
    ar: 'يجب ألا تزيد القيمة على ٦.',
    en: 'Must be at most 6.',
  },
  'a credit type with too many dimensions': {
    page: () => '/ui/credit-types',
    action: () => '/ui/credit-types',
    values: { code: 'fax', name: 'Fax', unit: 'page', dimensions: 'a, b, c, d, e, f' },
    status: 422,
    at: 'group:dimensions',
    ar: 'يجب ألا تزيد الأبعاد على ٥.',
    en: 'At most 5 dimensions.',
  },
  'a credit type’s code taken': {
    page: () => '/ui/credit-types',
    action: () => '/ui/credit-types',
    values: { code: 'sms', name: 'Other', unit: 'message' },
    status: 409,
    at: 'code',
    ar: 'مستخدم من قبل؛ اختر غيره.',
    en: 'Taken already: choose another.',
  },
  'a credit type’s unit too long (edit)': {
    page: () => `/ui/credit-types/${seeded.sms}`,
    action: () => `/ui/credit-types/${seeded.sms}`,
    values: { unit: long(51) },
    status: 422,
    at: 'unit',
    ar: 'يجب ألا يزيد النص على ٥٠ حرفًا.',
    en: 'At most 50 characters.',
  },
  'a dimension named like a grouping (edit)': {
    page: () => `/ui/credit-types/${seeded.sms}`,
    action: () => `/ui/credit-types/${seeded.sms}`,
    values: { dimensions: 'branch, month' },
    status: 422,
    at: 'group:dimensions',
    ar: 'month: اليوم والأسبوع والشهر تجميعات قائمة بذاتها؛ اختر مفتاحًا آخر.',
    en: 'month: Day, week and month are groupings of their own: choose another key.',
  },
  'a package holding an archived credit type': {
    page: () => '/ui/packages/new',
    action: () => '/ui/packages/new',
    values: { code: 'fax-pack', name: 'Fax', price: '10', 'items.0.credit_type': 'old-ct', 'items.0.units': '5' },
    status: 422,
    at: 'items.0.credit_type',
    ar: 'نوع الرصيد old-ct مؤرشف؛ لم يعد ممكنًا وضعه في باقة.',
    en: 'Credit type old-ct is archived: a package can no longer hold it.',
  },
  'a package naming no credit type': {
    page: () => '/ui/packages/new',
    action: () => '/ui/packages/new',
    values: { code: 'fax-pack', name: 'Fax', price: '10', 'items.0.credit_type': 'nope', 'items.0.units': '5' },
    status: 422,
    at: 'items.0.credit_type',
    ar: 'لا يوجد نوع رصيد بالرمز nope.',
    en: 'There is no credit type nope.',
  },
  'a package’s units finer than the credit type': {
    page: () => '/ui/packages/new',
    action: () => '/ui/packages/new',
    values: { code: 'fax-pack', name: 'Fax', price: '10', 'items.0.credit_type': 'voice', 'items.0.units': '1.25' },
    status: 422,
    at: 'items.0.units',
    ar: 'لا يقبل نوع الرصيد هذا أكثر من منزلة عشرية واحدة.',
    en: 'At most 1 decimal place for this credit type.',
  },
  'a package’s units written with an exponent': {
    page: () => '/ui/packages/new',
    action: () => '/ui/packages/new',
    values: { code: 'fax-pack', name: 'Fax', price: '10', 'items.0.credit_type': 'sms', 'items.0.units': '1e17' },
    status: 422,
    at: 'items.0.units',
    ar: 'يجب أن تكون عددًا مثل ٢٫٥.',
    en: 'Must be a number such as 2.5.',
  },
  'a package’s units too many': {
    page: () => '/ui/packages/new',
    action: () => '/ui/packages/new',
    values: {
      code: 'fax-pack',
      name: 'Fax',
      price: '10',
      'items.0.credit_type': 'sms',
      'items.0.units': '10000000000000000',
    },
    status: 422,
    at: 'items.0.units',
    ar: 'يجب ألا تزيد القيمة على ١٬٠٠٠٬٠٠٠٬٠٠٠٬٠٠٠٬٠٠٠.',
    en: 'Must be at most 1,000,000,000,000,000.',
  },
  'a package’s days counted in the Hijri calendar': {
    page: () => '/ui/packages/new',
    action: () => '/ui/packages/new',
    values: {
      code: 'fax-pack',
      name: 'Fax',
      price: '10',
      'validity.unit': 'day',
      'validity.calendar': 'islamic-umalqura',
      'items.0.credit_type': 'sms',
      'items.0.units': '5',
    },
    status: 422,
    at: 'validity.calendar',
    ar: 'يُختار التقويم للأشهر والسنوات فقط؛ فاليوم والأسبوع سواء في كل تقويم.',
    en: 'A calendar applies to months and years only: a day or a week is the same in every calendar.',
  },
  'a package’s description too long': {
    page: () => '/ui/packages/new',
    action: () => '/ui/packages/new',
    values: { code: 'fax-pack', name: 'Fax', price: '10', description: long(2001) },
    status: 422,
    at: 'description',
    ar: 'يجب ألا يزيد النص على ٢٬٠٠٠ حرف.',
    en: 'At most 2,000 characters.',
  },
  'a package’s currency unknown': {
    page: () => '/ui/packages/new',
    action: () => '/ui/packages/new',
    values: {
      code: 'fax-pack',
      name: 'Fax',
      price: '10',
      currency: 'XYZ',
      'items.0.credit_type': 'sms',
      'items.0.units': '5',
    },
    status: 422,
    at: 'currency',
    ar: 'يجب أن تكون رمز عملة معياريًا من ثلاثة أحرف مثل SAR.',
    en: 'Must be an ISO 4217 currency code such as SAR.',
  },
  'a package’s code taken': {
    page: () => '/ui/packages/new',
    action: () => '/ui/packages/new',
    values: { code: 'starter', name: 'Again', price: '10', 'items.0.credit_type': 'sms', 'items.0.units': '5' },
    status: 409,
    at: 'banner',
    ar: 'توجد باقة بهذا الرمز مسبقًا؛ اختر رمزًا آخر.',
    en: 'A package with this code exists already; choose another code.',
  },
  'a package’s price above the largest amount': {
    page: () => '/ui/packages/new',
    action: () => '/ui/packages/new',
    values: {
      code: 'fax-pack',
      name: 'Fax',
      currency: 'USD',
      price: '20000000000000',
      'items.0.credit_type': 'sms',
      'items.0.units': '5',
    },
    status: 422,
    at: 'price',
    // the bound in the units the price was typed in, with the currency's decimals: not the route's minor units
    ar: 'يجب ألا تزيد القيمة على ١٠٬٠٠٠٬٠٠٠٬٠٠٠٬٠٠٠٫٠٠.',
    en: 'Must be at most 10,000,000,000,000.00.',
  },
  'a package’s recharge price above the largest amount, in dinars': {
    page: () => '/ui/packages/new',
    action: () => '/ui/packages/new',
    values: {
      code: 'fax-pack',
      name: 'Fax',
      currency: 'KWD',
      price: '10',
      recharge_price: '2000000000000',
      'items.0.credit_type': 'sms',
      'items.0.units': '5',
    },
    status: 422,
    at: 'recharge_price',
    ar: 'يجب ألا تزيد القيمة على ١٬٠٠٠٬٠٠٠٬٠٠٠٬٠٠٠٫٠٠٠.',
    en: 'Must be at most 1,000,000,000,000.000.',
  },
  'a package’s price whose cents are more digits than an amount has (edit)': {
    page: () => `/ui/packages/${seeded.starter}/edit`,
    action: () => `/ui/packages/${seeded.starter}/edit`,
    values: { price: '100000000000000' },
    status: 422,
    at: 'price',
    ar: 'يجب ألا تزيد القيمة على ١٠٬٠٠٠٬٠٠٠٬٠٠٠٬٠٠٠٫٠٠.',
    en: 'Must be at most 10,000,000,000,000.00.',
  },
  'a package’s priority out of range (edit)': {
    page: () => `/ui/packages/${seeded.starter}/edit`,
    action: () => `/ui/packages/${seeded.starter}/edit`,
    values: { priority: '101' },
    status: 422,
    at: 'priority',
    ar: 'يجب ألا تزيد القيمة على ١٠٠.',
    en: 'Must be at most 100.',
  },
  'a client’s reference too long': {
    page: () => '/ui/clients/new',
    action: () => '/ui/clients/new',
    values: { external_ref: long(201), name: 'Fax Co' },
    status: 422,
    at: 'external_ref',
    ar: 'يجب ألا يزيد النص على ٢٠٠ حرف.',
    en: 'At most 200 characters.',
  },
  'a client’s e-mail not one': {
    page: () => '/ui/clients/new',
    action: () => '/ui/clients/new',
    values: { external_ref: 'fax-co', name: 'Fax Co', email: 'not-an-address' },
    status: 422,
    at: 'email',
    ar: 'يجب أن تكون القيمة عنوان بريد إلكتروني صالحًا.',
    en: 'Must be an e-mail address.',
  },
  'a client with too many metadata keys': {
    page: () => '/ui/clients/new',
    action: () => '/ui/clients/new',
    values: {
      external_ref: 'fax-co',
      name: 'Fax Co',
      metadata: Array.from({ length: 51 }, (_, i) => `key${i}=v`).join('\n'),
    },
    status: 422,
    at: 'metadata',
    ar: 'يجب ألا تزيد المفاتيح على ٥٠.',
    en: 'At most 50 keys.',
  },
  'a client’s name too long (edit)': {
    page: () => `/ui/clients/${seeded.client}/edit`,
    action: () => `/ui/clients/${seeded.client}/edit`,
    values: { name: long(201) },
    status: 422,
    at: 'name',
    ar: 'يجب ألا يزيد النص على ٢٠٠ حرف.',
    en: 'At most 200 characters.',
  },
  'a webhook endpoint’s address not a web address': {
    page: () => '/ui/webhooks/new',
    action: () => '/ui/webhooks/new',
    values: { url: 'ftp://hooks.example/x' },
    status: 422,
    at: 'url',
    ar: 'يجب أن تكون القيمة عنوان ويب يبدأ بـhttp(s)://.',
    en: 'Must be a web address starting with http(s)://.',
  },
  'a webhook endpoint with no event': {
    page: () => '/ui/webhooks/new',
    action: () => '/ui/webhooks/new',
    values: { url: 'https://hooks.example/x', events: [] },
    status: 422,
    at: 'group:events',
    ar: 'اختر حدثًا واحدًا على الأقل.',
    en: 'Choose at least one event.',
  },
  'a webhook endpoint’s description too long': {
    page: () => '/ui/webhooks/new',
    action: () => '/ui/webhooks/new',
    values: { url: 'https://hooks.example/x', description: long(501) },
    status: 422,
    at: 'description',
    ar: 'يجب ألا يزيد النص على ٥٠٠ حرف.',
    en: 'At most 500 characters.',
  },
  'a delivery retried that was delivered meanwhile': {
    page: () => `/ui/webhooks/${seeded.endpoint}/deliveries`,
    action: () => `/ui/webhooks/${seeded.endpoint}/deliveries/${seeded.delivered}/retry`,
    values: {},
    status: 409,
    at: 'banner',
    ar: 'سُلّمت هذه الإرسالية من قبل.',
    en: 'This delivery was delivered already.',
  },
  'a sale of a package archived since the form was shown': {
    page: () => `/ui/clients/${seeded.client}/sell`,
    action: () => `/ui/clients/${seeded.client}/sell`,
    values: { package: '{oldPackage}' },
    status: 409,
    at: 'banner',
    ar: 'رُفض الطلب: الحالة الحالية لا تسمح به. الباقة old-pack مؤرشفة، ولم تعد تُباع.',
    en: `${CONFLICT_EN} Package old-pack is archived: it is no longer sold.`,
  },
  'a sale starting at a time that is not one': {
    page: () => `/ui/clients/${seeded.client}/sell`,
    action: () => `/ui/clients/${seeded.client}/sell`,
    values: { starts_at: 'next monday' },
    status: 422,
    at: 'starts_at',
    ar: 'يجب أن تكون القيمة تاريخًا ووقتًا صالحين.',
    en: 'Must be a date and time.',
  },
  'a sale starting so long ago its period is over': {
    page: () => `/ui/clients/${seeded.client}/sell`,
    action: () => `/ui/clients/${seeded.client}/sell`,
    values: { package: '{starter}', starts_at: '2026-01-01T10:00' },
    status: 422,
    at: 'starts_at',
    ar: /^لو بدأ الاشتراك في هذا الموعد لانتهت فترته الأولى قبل الآن، في .*٢٠٢٦.*\.$/,
    en: /^Starting then, its first period would be over already: it would end 1 Feb 2026, 10:00\.$/,
  },
  'a sale at a price above the largest amount': {
    page: () => `/ui/clients/${seeded.client}/sell`,
    action: () => `/ui/clients/${seeded.client}/sell`,
    values: { package: '{starter}', price: '20000000000000' },
    status: 422,
    at: 'price',
    // the bound in the units the price was typed in (the package's dollars and cents), not the route's minor units
    ar: 'يجب ألا تزيد القيمة على ١٠٬٠٠٠٬٠٠٠٬٠٠٠٬٠٠٠٫٠٠.',
    en: 'Must be at most 10,000,000,000,000.00.',
  },
  'a sale at a price whose cents are more digits than an amount has': {
    page: () => `/ui/clients/${seeded.client}/sell`,
    action: () => `/ui/clients/${seeded.client}/sell`,
    // 15 digits of dollars: read as cents they would be a price the route takes, a hundredth of the one typed
    values: { package: '{starter}', price: '100000000000000' },
    status: 422,
    at: 'price',
    ar: 'يجب ألا تزيد القيمة على ١٠٬٠٠٠٬٠٠٠٬٠٠٠٬٠٠٠٫٠٠.',
    en: 'Must be at most 10,000,000,000,000.00.',
  },
  'a cancellation with a reason too long': {
    page: () => `/ui/subscriptions/${seeded.active}`,
    action: () => `/ui/subscriptions/${seeded.active}/cancel`,
    values: { reason: long(501), confirmed: 'yes' },
    status: 422,
    at: 'reason',
    ar: 'يجب ألا يزيد النص على ٥٠٠ حرف.',
    en: 'At most 500 characters.',
  },
  // refused when sent, not carried to the confirmation page to be refused only after the person confirmed
  'a cancellation with a reason too long, before its confirmation': {
    page: () => `/ui/subscriptions/${seeded.active}`,
    action: () => `/ui/subscriptions/${seeded.active}/cancel`,
    values: { at: 'now', reason: long(501) },
    status: 422,
    at: 'reason',
    ar: 'يجب ألا يزيد النص على ٥٠٠ حرف.',
    en: 'At most 500 characters.',
  },
  'a cancelled subscription suspended (a page kept open)': {
    page: () => `/ui/subscriptions/${seeded.active}`,
    action: () => `/ui/subscriptions/{cancelled}/status`,
    values: { status: 'suspended' },
    status: 409,
    at: 'banner',
    ar: 'رُفض الطلب: الحالة الحالية لا تسمح به. حالة الاشتراك «ملغى»، فلا يمكن أن تصبح «موقوف».',
    en: `${CONFLICT_EN} The subscription is cancelled: it cannot become suspended.`,
  },
  'a use of a credit type that does not exist': {
    page: () => `/ui/clients/${seeded.client}/consume`,
    action: () => `/ui/clients/${seeded.client}/consume`,
    values: { credit_type: 'fax', quantity: '1', action: 'register' },
    status: 422,
    at: 'credit_type',
    ar: 'لا يوجد نوع رصيد بالرمز fax.',
    en: 'There is no credit type fax.',
  },
  'a use of a part of a whole-number credit type': {
    page: () => `/ui/clients/${seeded.client}/consume`,
    action: () => `/ui/clients/${seeded.client}/consume`,
    values: { credit_type: 'sms', quantity: '1.5', action: 'register' },
    status: 422,
    at: 'quantity',
    ar: 'يجب أن تكون عددًا صحيحًا لنوع الرصيد هذا.',
    en: 'Must be a whole number for this credit type.',
  },
  'a use at a time that is not one (quote)': {
    page: () => `/ui/clients/${seeded.client}/consume`,
    action: () => `/ui/clients/${seeded.client}/consume`,
    values: { credit_type: 'sms', quantity: '1', occurred_at: 'yesterday', action: 'quote' },
    status: 422,
    at: 'occurred_at',
    ar: 'يجب أن تكون القيمة تاريخًا ووقتًا صالحين.',
    en: 'Must be a date and time.',
  },
  'a use in the future': {
    page: () => `/ui/clients/${seeded.client}/consume`,
    action: () => `/ui/clients/${seeded.client}/consume`,
    values: { credit_type: 'sms', quantity: '1', occurred_at: '2027-01-01T00:00', action: 'register' },
    status: 422,
    at: 'occurred_at',
    ar: 'يجب ألا يكون الموعد في المستقبل.',
    en: 'Must not be in the future.',
  },
  'a use with a reference too long': {
    page: () => `/ui/clients/${seeded.client}/consume`,
    action: () => `/ui/clients/${seeded.client}/consume`,
    values: { credit_type: 'sms', quantity: '1', reference: long(256), action: 'register' },
    status: 422,
    at: 'reference',
    ar: 'يجب ألا يزيد النص على ٢٥٥ حرفًا.',
    en: 'At most 255 characters.',
  },
  'a rejected use reversed': {
    page: () => `/ui/consumptions/${seeded.rejected}`,
    action: () => `/ui/consumptions/${seeded.rejected}/reverse`,
    values: { confirmed: 'yes' },
    status: 409,
    at: 'banner',
    ar: 'رُفض الطلب: الحالة الحالية لا تسمح به. الاستهلاك المرفوض لم يأخذ شيئًا، فلا شيء يُعكس.',
    en: `${CONFLICT_EN} A rejected consumption took nothing: there is nothing to reverse.`,
  },
  'an adjustment of zero': {
    page: () => `/ui/balances/${seeded.activeBalance}/adjust`,
    action: () => `/ui/balances/${seeded.activeBalance}/adjust`,
    values: { delta: '0', reason: 'count' },
    status: 422,
    at: 'delta',
    ar: 'يجب ألا تكون القيمة صفرًا.',
    en: 'Must not be zero.',
  },
  'an adjustment with a reason too long': {
    page: () => `/ui/balances/${seeded.activeBalance}/adjust`,
    action: () => `/ui/balances/${seeded.activeBalance}/adjust`,
    values: { delta: '1', reason: long(501) },
    status: 422,
    at: 'reason',
    ar: 'يجب ألا يزيد النص على ٥٠٠ حرف.',
    en: 'At most 500 characters.',
  },
  'a use larger than the balance, its unit a Latin name': {
    page: () => `/ui/clients/${seeded.client}/consume`,
    action: () => `/ui/clients/${seeded.client}/consume`,
    values: { credit_type: 'sms', quantity: '1000', action: 'register' },
    status: 422,
    at: 'banner',
    ar: 'الرصيد غير كافٍ: لدى العميل ١٠٠ message، والاستهلاك يطلب ١٬٠٠٠ message، والنقص ٩٠٠ message. لم يُخصم شيء.',
    en:
      'Not enough balance: the client has 100 message, the use asks 1,000 message, 900 message short. ' +
      'Nothing was deducted.',
  },
  'a removal larger than the balance, its unit a Latin name': {
    page: () => `/ui/balances/${seeded.activeBalance}/adjust`,
    action: () => `/ui/balances/${seeded.activeBalance}/adjust`,
    values: { delta: '-500', reason: 'count' },
    status: 422,
    at: 'banner',
    ar: 'في الرصيد ١٠٠ message فقط؛ لا يمكن خصم ٥٠٠ message منه. لم يتغير شيء.',
    en: 'The balance holds 100 message; it cannot lose 500 message. Nothing was changed.',
  },
  'an adjustment of a balance voided meanwhile': {
    page: () => `/ui/balances/${seeded.voidBalance}/adjust`,
    action: () => `/ui/balances/${seeded.voidBalance}/adjust`,
    values: { delta: '1', reason: 'count' },
    status: 409,
    at: 'banner',
    ar: /^رُفض الطلب: الحالة الحالية لا تسمح به\. حالة الرصيد «[^«»a-z]+»، فلم يعد ممكنًا تعديله\.$/,
    en: new RegExp(`^${CONFLICT_EN} The balance is \\w+: it can no longer be adjusted\\.$`),
  },
  'a paid invoice voided (a page kept open)': {
    page: () => `/ui/invoices/${seeded.paidInvoice}`,
    action: () => `/ui/invoices/{paidInvoice}/void`,
    values: { confirmed: 'yes' },
    status: 409,
    at: 'banner',
    ar: /^رُفض الطلب: الحالة الحالية لا تسمح به\. الفاتورة INV-\d{4}-\d{6} مدفوعة، ولم يعد ممكنًا إلغاؤها\.$/,
    en: new RegExp(`^${CONFLICT_EN} Invoice INV-\\d{4}-\\d{6} is paid: it can no longer be voided\\.$`),
  },
  'an invoice voided with a reason too long': {
    page: () => `/ui/invoices/${seeded.issuedInvoice}`,
    action: () => `/ui/invoices/{issuedInvoice}/void`,
    values: { reason: long(501), confirmed: 'yes' },
    status: 422,
    at: 'reason',
    ar: 'يجب ألا يزيد النص على ٥٠٠ حرف.',
    en: 'At most 500 characters.',
  },
  'an invoice voided with a reason too long, before its confirmation': {
    page: () => `/ui/invoices/${seeded.issuedInvoice}`,
    action: () => `/ui/invoices/{issuedInvoice}/void`,
    values: { reason: long(501) },
    status: 422,
    at: 'reason',
    ar: 'يجب ألا يزيد النص على ٥٠٠ حرف.',
    en: 'At most 500 characters.',
  },
  'an invoice voided with a reason Postgres cannot store, before its confirmation': {
    page: () => `/ui/invoices/${seeded.issuedInvoice}`,
    action: () => `/ui/invoices/{issuedInvoice}/void`,
    values: { reason: 'sold\u0000twice' },
    status: 422,
    at: 'reason',
    ar: 'يحتوي النص على محرف لا يمكن حفظه.',
    en: 'Holds a character that cannot be stored.',
  },
  'an invoice voided with a reason Postgres cannot store': {
    page: () => `/ui/invoices/${seeded.issuedInvoice}`,
    action: () => `/ui/invoices/{issuedInvoice}/void`,
    values: { reason: 'sold\u0000twice', confirmed: 'yes' },
    status: 422,
    at: 'reason',
    ar: 'يحتوي النص على محرف لا يمكن حفظه.',
    en: 'Holds a character that cannot be stored.',
  },
  'a void invoice paid (a page kept open)': {
    page: () => `/ui/invoices/${seeded.voidInvoice}`,
    action: () => `/ui/invoices/{voidInvoice}/pay`,
    values: {},
    status: 409,
    at: 'banner',
    ar: /^رُفض الطلب: الحالة الحالية لا تسمح به\. الفاتورة INV-\d{4}-\d{6} ملغاة، ولم يعد ممكنًا دفعها\.$/,
    en: new RegExp(`^${CONFLICT_EN} Invoice INV-\\d{4}-\\d{6} is void: it can no longer be paid\\.$`),
  },
  'a freeze longer than the package allows': {
    page: () => `/ui/clients/${seeded.client}`,
    action: () => `/ui/subscriptions/${seeded.active}/freeze`,
    values: { days: '9' },
    status: 422,
    at: 'days',
    ar: 'أكثر مما تسمح به الباقة: أيام التجميد في كل فترة ٥، استُخدم منها ٠، وبقي ٥، والمطلوب ٩.',
    en: 'Beyond what the package allows: 5 freeze days per period, 0 used, 5 left, 9 asked.',
  },
  'a report of a client, a package and a credit type that do not exist': {
    page: () => '/ui/reports',
    action: () => '/ui/reports',
    values: { type: 'balances', client: 'nobody', package: 'no-pack', credit_type: 'no-ct' },
    status: 422,
    at: 'credit_type',
    ar: 'لا يوجد نوع رصيد بالرمز no-ct.',
    en: 'There is no credit type no-ct.',
  },
  'a report of a client that does not exist': {
    page: () => '/ui/reports',
    action: () => '/ui/reports',
    values: { type: 'subscriptions', client: 'nobody' },
    status: 422,
    at: 'client',
    ar: 'لا يوجد عميل بالمرجع nobody.',
    en: 'There is no client nobody.',
  },
  'a report from a day that is not one': {
    page: () => '/ui/reports',
    action: () => '/ui/reports',
    values: { type: 'consumption', from: '2026-02-30' },
    status: 422,
    at: 'from',
    ar: 'يجب أن تكون القيمة تاريخًا صالحًا.',
    en: 'Must be a date.',
  },
  'a report over a range too long': {
    page: () => '/ui/reports',
    action: () => '/ui/reports',
    values: { type: 'consumption', from: '2010-01-01', to: '2026-05-01' },
    status: 422,
    at: 'from',
    ar: 'يجب ألا يزيد المدى على ٣٬٦٦٠ يومًا.',
    en: 'A range covers 3,660 days at most.',
  },
  'a report by a dimension with no credit type': {
    page: () => '/ui/reports',
    action: () => '/ui/reports',
    values: { type: 'consumption', group_by: 'branch' },
    status: 422,
    at: 'group_by',
    ar: 'يجب أن يكون التجميع باليوم أو الأسبوع أو الشهر أو بأحد أبعاد نوع الرصيد المختار.',
    en: 'Must be day, week, month, or a dimension of the credit type chosen.',
  },
  'a report of days ahead out of range': {
    page: () => '/ui/reports',
    action: () => '/ui/reports',
    values: { type: 'expiring', days_ahead: '400' },
    status: 422,
    at: 'days_ahead',
    ar: 'يجب ألا تزيد المدة على ٣٦٦ يومًا.',
    en: 'At most 366 days.',
  },
  'a report of a thousand days ahead, typed in Arabic digits': {
    page: () => '/ui/reports',
    action: () => '/ui/reports',
    values: { type: 'expiring', days_ahead: '١٠٠٠' },
    status: 422,
    at: 'days_ahead',
    ar: 'يجب ألا تزيد المدة على ٣٦٦ يومًا.',
    en: 'At most 366 days.',
  },
  'a report of no days ahead': {
    page: () => '/ui/reports',
    action: () => '/ui/reports',
    values: { type: 'expiring', days_ahead: '0' },
    status: 422,
    at: 'days_ahead',
    ar: 'يجب ألا تقل المدة عن يوم واحد.',
    en: 'At least 1 day.',
  },
  'an API key’s name too long': {
    page: () => '/ui/api-keys',
    action: () => '/ui/api-keys',
    values: { name: long(201) },
    status: 422,
    at: 'name',
    ar: 'يجب ألا يزيد النص على ٢٠٠ حرف.',
    en: 'At most 200 characters.',
  },
};

/** A case's `{name}` in a path or a value: a seeded id known once the file's set-up ran. */
const filled = (text: string): string =>
  text.replace(/\{(\w+)\}/g, (_m, key: string) => seeded[key as keyof typeof seeded] ?? '');

async function send(c: Case, lang: Lang): Promise<Answer> {
  const page = await get(c.page(), lang);
  expect(page.status, c.page()).toBe(200);
  const action = filled(c.action());
  // the form on its page when the page has it (its own fields, the token, the one-time key), else only the token
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)?.[1] ?? '';
  const own = page.text.includes(`action="${action}"`) ? formOf(page.text, action) : { csrf };
  const values = Object.fromEntries(
    Object.entries(c.values).map(([k, v]) => [k, Array.isArray(v) ? v.map(filled) : filled(v)]),
  );
  return post(action, { ...own, ...values }, lang);
}

beforeAll(async () => {
  receiver = new Receiver();
  await receiver.start();
  app = await startTestApp({
    roles: ['api', 'worker'],
    now: NOW,
    env: { BUSINESS_TZ: 'Asia/Riyadh', WEBHOOK_ALLOW_PRIVATE: 'true' },
  });
  session = await signInToUi(app.baseUrl, app.keys.admin);
  app.clock.set('2026-05-01T09:00:00.000Z');
  seeded.sms = (await createCreditType(app, { code: 'sms', unit: 'message', dimensions: ['branch'] })).id;
  await createCreditType(app, { code: 'voice', unit: 'minute', decimals: 1 });
  seeded.oldCreditType = (await createCreditType(app, { code: 'old-ct' })).id;
  const starter = await createPackage(
    app,
    [
      { credit_type: 'sms', units: 100 },
      { credit_type: 'voice', units: 10 },
    ],
    { code: 'starter', max_freeze_days: 5 },
  );
  seeded.starter = starter.id;
  seeded.oldPackage = (await createPackage(app, [{ credit_type: 'sms', units: 5 }], { code: 'old-pack' })).id;
  seeded.client = (await createClient(app, { external_ref: 'acme', name: 'Acme' })).id;
  const endpoint = await app.request('POST', '/v1/webhook-endpoints', {
    body: { url: receiver.url, events: ['invoice.voided'] },
  });
  expect(endpoint.status, endpoint.text).toBe(201);
  seeded.endpoint = endpoint.body.id;

  const active = await subscribe(app, seeded.client, 'starter');
  seeded.active = active.id;
  seeded.activeBalance = active.balances[0]!.id;
  seeded.paidInvoice = active.invoice.id;
  expect((await app.request('POST', `/v1/invoices/${active.invoice.id}/pay`)).status).toBe(200);
  const other = await subscribe(app, seeded.client, 'starter');
  seeded.cancelled = other.id;
  seeded.voidBalance = other.balances[0]!.id;
  seeded.voidInvoice = other.invoice.id;
  const voided = await app.request('POST', `/v1/invoices/${other.invoice.id}/void`, { body: {} });
  expect(voided.status, voided.text).toBe(200);
  // an invoice still to pay (its subscription waits for it): its void form is there to refuse
  seeded.issuedInvoice = (await subscribe(app, seeded.client, 'starter', { activation: 'on_payment' })).invoice.id;
  const cancelled = await app.request('POST', `/v1/subscriptions/${other.id}/cancel`, { body: { at: 'now' } });
  expect(cancelled.status, cancelled.text).toBe(200);
  // the invoice's voiding was delivered to the endpoint: a retry of it now is refused. Its delivery row is made by the
  // outbox relay, which polls: read once the receiver has had the request (not at once: a race the suite once lost)
  await receiver.until(1);
  const [delivery] = await app.database.db('webhook_deliveries').where({ endpoint_id: seeded.endpoint });
  seeded.delivered = delivery!.id;
  const outcome = await awaitOutcome(app.ctx, 'deliver', `delivery|${delivery!.id}`, { timeoutMs: 20_000 });
  expect(outcome.state).toBe('completed');

  app.clock.set(NOW);
  const rejected = await app.request('POST', '/v1/consumptions?wait=true', {
    key: app.keys.write,
    body: { client: 'acme', credit_type: 'sms', quantity: 100_000, idempotency_key: 'too-much' },
  });
  expect(rejected.status, rejected.text).toBe(422);
  seeded.rejected = rejected.body.id;
  expect(seeded.rejected).toBeTruthy();
  await app.request('PATCH', `/v1/credit-types/${seeded.oldCreditType}`, { body: { archived: true } });
  await app.request('PATCH', `/v1/packages/${seeded.oldPackage}`, { body: { status: 'archived' } });
}, 120_000);

afterAll(async () => {
  await app?.close();
  receiver?.stop();
});

describe('a form refused on an Arabic page', () => {
  it.each(Object.entries(CASES))('says %s in Arabic, its figures in Arabic digits', async (_name, c) => {
    const res = await send(c, 'ar');
    expect(res.status, res.text).toBe(c.status);
    expect(res.text).toMatch(/<html lang="ar" dir="rtl">/);
    const said = messageAt(res.text, c.at);
    if (typeof c.ar === 'string') expect(said).toBe(c.ar);
    else expect(said).toMatch(c.ar);
    // nothing of the refusal in English, nor in Western digits: only the codes a person typed or chose
    for (const prose of refusalProse(res.text)) {
      expect(prose, prose).not.toMatch(/[A-Za-z0-9]/);
      expect(prose).toMatch(/\p{Script=Arabic}/u);
    }
  });
});

describe('the same form refused on an English page', () => {
  it.each(Object.entries(CASES))('says %s in the catalogue’s English', async (_name, c) => {
    const res = await send(c, 'en');
    expect(res.status, res.text).toBe(c.status);
    expect(res.text).toMatch(/<html lang="en" dir="ltr">/);
    const said = messageAt(res.text, c.at);
    if (typeof c.en === 'string') expect(said).toBe(c.en);
    else expect(said).toMatch(c.en);
    expect(res.text).not.toContain('lang="en" dir="ltr">(');
  });
});

describe('what the refused forms wrote', () => {
  it('is nothing: the catalogue as it was, no use, no adjustment', async () => {
    expect((await app.request('GET', '/v1/credit-types')).body.data.map((c: { code: string }) => c.code)).toEqual([
      'sms',
      'voice',
      'old-ct',
    ]);
    expect((await app.request('GET', '/v1/packages?limit=10')).body.data).toHaveLength(2);
    expect((await app.request('GET', '/v1/clients?limit=10')).body.data).toHaveLength(1);
    const balance = await app.request('GET', `/v1/balances/${seeded.activeBalance}`);
    expect(balance.body.remaining).toBe('100');
  });
});
