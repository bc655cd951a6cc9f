import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { ManualClock } from '../src/clock.js';
import { loadConfig } from '../src/config.js';
import { createApiKey } from '../src/http/auth.js';
import { createLogger } from '../src/logger.js';
import { startRoles } from '../src/roles.js';
import { createRuntime } from '../src/runtime.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../test/helpers/browser.js';
import { openScratch } from './scratch.js';

/**
 * Full-page screenshots of every page of the back office, as a person sees it: the service started on a scratch
 * database with a few weeks of a small business (Arabic and Latin clients, SAR/JPY/KWD packages, subscriptions in
 * every status, holds, invoices paid and void, reports, failing webhooks, API keys), each page in English and
 * Arabic at a desktop (1280×800) and a phone (390×844) width, into OUT (default /tmp/qa-visual).
 *
 *   node --import tsx bench/ui-screens.ts [only-this-substring]
 */
const OUT = process.env.OUT ?? '/tmp/qa-visual';
const ONLY = process.argv[2];
const NOW = '2026-03-15T10:00:00.000Z';

const failing = createServer((_req, res) => {
  res.statusCode = 500;
  res.end('down');
});
await new Promise<void>((resolve) => failing.listen(0, '127.0.0.1', resolve));
const hookUrl = `http://127.0.0.1:${(failing.address() as AddressInfo).port}/hook`;

const env = {
  LOG_LEVEL: 'silent',
  BUSINESS_TZ: 'Asia/Riyadh',
  PORT: '0',
  HOST: '127.0.0.1',
  HTTP_ACCEPT_HANDLES: '1',
  WEBHOOK_ALLOW_PRIVATE: 'true',
  WEBHOOK_MAX_ATTEMPTS: '2',
  WEBHOOK_BACKOFF_MS: '10',
  WEBHOOK_BACKOFF_MAX_MS: '20',
  NIGHTLY_REPORTS: 'none',
  DATABASE_URL: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
};
const scratch = await openScratch('bench', loadConfig(env));
const config = loadConfig({ ...env, BULL_PREFIX: scratch.prefix });
const clock = new ManualClock('2026-02-03T08:00:00.000Z');
const runtime = createRuntime({
  config,
  databaseUrl: scratch.databaseUrl,
  redisUrl: scratch.redisUrl,
  log: createLogger('silent', 'credits'),
  clock,
});
const roles = await startRoles(runtime.ctx, ['api', 'worker']);
const base = `http://127.0.0.1:${roles.port}`;
const adminKey = (await createApiKey(runtime.ctx.db, { name: 'Back office', scopes: ['admin'], now: clock.now() })).key;

async function api(method: string, route: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(base + route, {
    method,
    headers: {
      authorization: `Bearer ${adminKey}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${route}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as any;
}
const at = (iso: string) => clock.set(iso);
const day = (n: number, hour = 9) =>
  new Date(Date.parse('2026-02-20T00:00:00.000Z') + n * 86_400_000 + hour * 3_600_000).toISOString();

// ---------------------------------------------------------------------------------------------------- the business
const ids: Record<string, string> = {};
at('2026-02-03T08:00:00.000Z');
await api('POST', '/v1/credit-types', { code: 'sms', name: 'SMS', unit: 'message', decimals: 0 });
await api('POST', '/v1/credit-types', { code: 'voice', name: 'دقائق الاتصال', unit: 'minute', decimals: 1 });
await api('POST', '/v1/credit-types', { code: 'api-calls', name: 'API calls', unit: 'call', decimals: 0 });
const month = { count: 1, unit: 'month' };
await api('POST', '/v1/packages', {
  code: 'corporate',
  name: 'باقة الشركات',
  price: 45000,
  currency: 'SAR',
  validity: month,
  items: [
    { credit_type: 'sms', units: 3000 },
    { credit_type: 'voice', units: 300 },
  ],
  max_freeze_days: 30,
});
await api('POST', '/v1/packages', {
  code: 'tokyo-starter',
  name: 'Tokyo Starter',
  price: 5000,
  currency: 'JPY',
  validity: month,
  items: [{ credit_type: 'api-calls', units: 20000 }],
});
await api('POST', '/v1/packages', {
  code: 'kw-gold',
  name: 'Kuwait Gold Unlimited Messaging Plan for Enterprises',
  price: 12500,
  currency: 'KWD',
  validity: month,
  items: [{ credit_type: 'sms', units: 500 }],
  max_freeze_days: 14,
});
const clients = [
  ['alnoor', 'شركة النور للاتصالات', 'info@alnoor.example'],
  ['acme', 'Acme Logistics', 'ops@acme.example'],
  ['yasmin', 'مطعم الياسمين', undefined],
  ['tokyo', 'Sakura Trading KK', undefined],
  [
    'long',
    'The International Consolidated Federation of Independent Regional Telecommunications Operators and Partners',
    'accounts-payable.department@international-consolidated-federation.example',
  ],
  ['kw', 'Kuwait Trading Co.', undefined],
] as const;
for (const [ref, name, email] of clients) {
  const made = await api('POST', '/v1/clients', { external_ref: ref, name, ...(email ? { email } : {}) });
  ids[ref] = made.id;
}
const sub = async (client: string, pkg: string) =>
  (await api('POST', '/v1/subscriptions', { client, package: pkg })).id;
// an expired one: a subscription of early February whose month ran out
ids.subExpired = await sub('yasmin', 'kw-gold');
at(day(0));
ids.subNoor = await sub('alnoor', 'corporate');
ids.subAcme = await sub('acme', 'kw-gold');
ids.subTokyo = await sub('tokyo', 'tokyo-starter');
ids.subLong = await sub('long', 'corporate');
ids.subKw = await sub('kw', 'kw-gold');
ids.subYasmin = await sub('yasmin', 'corporate');

let last = '';
for (let d = 1; d < 24; d += 1) {
  at(day(d, 12));
  const use = async (client: string, ct: string, q: number | string, key: string) => {
    const r = await api('POST', '/v1/consumptions?wait=true', {
      client,
      credit_type: ct,
      quantity: q,
      idempotency_key: key,
    });
    return r.id as string;
  };
  await use('alnoor', 'sms', 60 + ((d * 37) % 90), `noor-${d}`);
  last = await use('alnoor', 'voice', `${5 + ((d * 7) % 11)}.5`, `noor-voice-${d}`);
  await use('acme', 'sms', 5 + ((d * 13) % 15), `acme-${d}`);
  await use('tokyo', 'api-calls', 300 + ((d * 97) % 400), `tokyo-${d}`);
  await use('long', 'sms', 40 + ((d * 11) % 30), `long-${d}`);
}
ids.consumption = last;
// the states
at('2026-03-14T09:00:00.000Z');
await api('POST', `/v1/subscriptions/${ids.subKw}/freeze`, { days: 7 });
await api('POST', `/v1/subscriptions/${ids.subYasmin}/cancel`, { at: 'now' });
const pending = await api('POST', '/v1/subscriptions', {
  client: 'acme',
  package: 'corporate',
  activation: 'on_payment',
});
ids.subPending = pending.id;
// a grant, holds
await api(
  'POST',
  '/v1/clients/alnoor/grants',
  { credit_type: 'sms', units: 100, expires_at: '2026-04-01T00:00:00Z', reason: 'تعويض عن انقطاع الخدمة' },
  { 'Idempotency-Key': 'goodwill-1' },
);
at('2026-03-15T09:00:00.000Z');
const hold = await api('POST', '/v1/holds?wait=true', {
  client: 'alnoor',
  credit_type: 'voice',
  quantity: 12,
  idempotency_key: 'call-7',
  reference: 'مكالمة',
  expires_in_seconds: 86_400,
});
ids.hold = hold.id;
await api('POST', '/v1/holds?wait=true', {
  client: 'alnoor',
  credit_type: 'sms',
  quantity: 250,
  idempotency_key: 'campaign-8',
  reference: 'spring-campaign-2026-03-very-long-reference-0001',
  expires_in_seconds: 172_800,
});
// invoices paid and void
const invoices = await api('GET', '/v1/invoices?limit=20');
const list = invoices.data as Array<{ id: string; status: string }>;
if (list[0]) await api('POST', `/v1/invoices/${list[0].id}/pay`, {});
if (list[1]) await api('POST', `/v1/invoices/${list[1].id}/void`, { reason: 'duplicate' });
ids.invoiceOpen = list[3]!.id;
ids.invoicePaid = list[0]!.id;
// webhooks that fail
const hook = await api('POST', '/v1/webhook-endpoints', { url: hookUrl, events: ['*'], description: 'Billing system' });
ids.hook = hook.id;
await api('POST', '/v1/webhook-endpoints', {
  url: 'https://hooks.example/a/very/long/path/to/the/receiver/of/credits/events?tenant=international-federation',
  events: ['invoice.paid', 'invoice.voided', 'subscription.renewed'],
});
if (list[2]) await api('POST', `/v1/invoices/${list[2].id}/void`, { reason: 'test' });
at(NOW);
// reports
for (const body of [
  { type: 'consumption', format: 'csv', params: { group_by: 'day', per: 'client' } },
  { type: 'consumption', format: 'csv', params: { client: 'alnoor' } },
  { type: 'expiring', format: 'csv', params: { days_ahead: 30 } },
]) {
  await api('POST', '/v1/reports', body);
}
// API keys
await api('POST', '/v1/api-keys', { name: 'Billing integration', scopes: ['write'] });
await api('POST', '/v1/api-keys', { name: 'مفتاح القراءة للتقارير', scopes: ['read'] });
const revoked = await api('POST', '/v1/api-keys', { name: 'Old key', scopes: ['read'] });
await api('POST', `/v1/api-keys/${revoked.id}/revoke`, {});
ids.apiKey = revoked.id;
const subs = await api('GET', `/v1/subscriptions/${ids.subNoor}`);
ids.balance = subs.balances[0].id;
// the nightly sweep: the subscription of early February expires
await api('POST', '/v1/admin/nightly-runs', {}).catch((error: Error) => console.error(error.message));
// let the failing deliveries fail
await new Promise((r) => setTimeout(r, 3000));

// ---------------------------------------------------------------------------------------------------- the pages
type Step = (page: Page) => Promise<unknown>;
const goto =
  (p: string): Step =>
  (page) =>
    page.goto(base + p);
const click =
  (p: string, selector: string): Step =>
  async (page) => {
    await page.goto(base + p);
    await Promise.all([page.waitForLoadState('load'), page.locator(selector).first().click()]);
    await page.waitForLoadState('load');
  };
const submitEmpty =
  (p: string, form = 'main form'): Step =>
  async (page) => {
    await page.goto(base + p);
    await page.evaluate(`(() => {
      for (const el of document.querySelectorAll('${form} [required]')) el.removeAttribute('required');
      for (const el of document.querySelectorAll('${form} input[type=email],${form} input[type=url]'))
        el.setAttribute('type', 'text');
    })()`);
    await Promise.all([page.waitForLoadState('load'), page.locator(`${form} button[type=submit]`).last().click()]);
    await page.waitForLoadState('load');
  };

const pages: Array<[string, Step]> = [
  ['overview', goto('/ui')],
  ['clients', goto('/ui/clients')],
  ['clients-search-empty', goto('/ui/clients?search=zzzz')],
  ['client-alnoor', goto(`/ui/clients/${ids.alnoor}`)],
  ['client-alnoor-asof', goto(`/ui/clients/${ids.alnoor}?as_of=2026-02-25`)],
  ['client-long', goto(`/ui/clients/${ids.long}`)],
  ['client-tokyo', goto(`/ui/clients/${ids.tokyo}`)],
  ['client-yasmin', goto(`/ui/clients/${ids.yasmin}`)],
  ['client-kw-frozen', goto(`/ui/clients/${ids.kw}`)],
  ['client-new', goto('/ui/clients/new')],
  ['client-new-errors', submitEmpty('/ui/clients/new')],
  ['client-edit', goto(`/ui/clients/${ids.long}/edit`)],
  ['sell', goto(`/ui/clients/${ids.alnoor}/sell`)],
  ['consume', goto(`/ui/clients/${ids.alnoor}/consume`)],
  ['consume-errors', submitEmpty(`/ui/clients/${ids.alnoor}/consume`)],
  ['subscription', goto(`/ui/subscriptions/${ids.subNoor}`)],
  ['subscription-pending', goto(`/ui/subscriptions/${ids.subPending}`)],
  ['confirm-cancel', click(`/ui/subscriptions/${ids.subNoor}`, 'button[data-action="cancel"]')],
  ['confirm-renew', click(`/ui/clients/${ids.alnoor}`, 'button[data-action="renew"]')],
  ['confirm-capture', click(`/ui/clients/${ids.alnoor}`, 'button[data-action="capture"]')],
  ['confirm-release', click(`/ui/clients/${ids.alnoor}`, 'button[data-action="release"]')],
  ['consumption', goto(`/ui/consumptions/${ids.consumption}`)],
  ['confirm-reverse', click(`/ui/consumptions/${ids.consumption}`, 'button[data-action="reverse"]')],
  ['balance', goto(`/ui/balances/${ids.balance}`)],
  ['balance-adjust-errors', submitEmpty(`/ui/balances/${ids.balance}`)],
  ['packages', goto('/ui/packages')],
  ['package', goto('/ui/packages/kw-gold')],
  ['package-new', goto('/ui/packages/new')],
  ['package-new-errors', submitEmpty('/ui/packages/new')],
  ['package-edit', goto('/ui/packages/corporate/edit')],
  ['credit-types', goto('/ui/credit-types')],
  ['credit-types-errors', submitEmpty('/ui/credit-types', 'form[action="/ui/credit-types"]')],
  ['credit-type', goto('/ui/credit-types/voice')],
  ['invoices', goto('/ui/invoices')],
  ['invoices-empty', goto('/ui/invoices?status=paid&client=nobody')],
  ['invoice-open', goto(`/ui/invoices/${ids.invoiceOpen}`)],
  ['invoice-paid', goto(`/ui/invoices/${ids.invoicePaid}`)],
  ['confirm-void', click(`/ui/invoices/${ids.invoiceOpen}`, 'button[data-action="void"]')],
  ['reports', goto('/ui/reports')],
  ['reports-errors', submitEmpty('/ui/reports', 'form[action="/ui/reports"]')],
  ['webhooks', goto('/ui/webhooks')],
  ['webhook-new', goto('/ui/webhooks/new')],
  ['webhook-new-errors', submitEmpty('/ui/webhooks/new')],
  ['webhook-deliveries', goto(`/ui/webhooks/${ids.hook}/deliveries`)],
  ['api-keys', goto('/ui/api-keys')],
  ['api-key-revoke', goto(`/ui/api-keys/${ids.apiKey}/revoke`)],
  ['audit', goto('/ui/audit')],
  ['not-found', goto('/ui/no-such-page')],
  ['client-not-found', goto('/ui/clients/nobody')],
];

const browser: Browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
mkdirSync(OUT, { recursive: true });
const widths = { desktop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } } as const;
try {
  for (const lang of ['en', 'ar'] as const) {
    for (const [size, viewport] of Object.entries(widths)) {
      const context = await browser.newContext({ viewport, locale: lang === 'ar' ? 'ar-SA' : 'en-US' });
      await context.addCookies([{ name: 'credits_lang', value: lang, url: base }]);
      const page = await context.newPage();
      const shot = (name: string) =>
        page.screenshot({ path: path.join(OUT, `${name}.${lang}.${size}.png`), fullPage: true });
      await page.goto(`${base}/ui/login`);
      if (!ONLY || 'login'.includes(ONLY)) await shot('login');
      await page.fill('input[name="key"]', 'wrong-key');
      await Promise.all([page.waitForLoadState('load'), page.click('button[type="submit"]')]);
      if (!ONLY || 'login-error'.includes(ONLY)) await shot('login-error');
      await page.fill('input[name="key"]', adminKey);
      await Promise.all([page.waitForURL(`${base}/ui`), page.click('button[type="submit"]')]);
      for (const [name, step] of pages) {
        if (ONLY && !name.includes(ONLY)) continue;
        try {
          await step(page);
          await shot(name);
        } catch (error) {
          console.error(`${name} ${lang} ${size}: ${(error as Error).message.split('\n')[0]}`);
        }
      }
      await context.close();
    }
  }
  console.log(`screenshots in ${OUT}`);
} finally {
  await browser.close();
  await roles.stop();
  await runtime.close();
  await scratch.finish({ keep: false });
  failing.close();
}
