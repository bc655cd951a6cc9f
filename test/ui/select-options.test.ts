import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';
import { signInToUi } from '../helpers/ui-session.js';

/**
 * Every choice of every select of the pages is shown in its own text's direction (`dir="auto"` on each `<option>`):
 * the closed select shows the chosen option in it (Chromium takes the option's), so a Latin name on an Arabic page,
 * or an Arabic one on an English page, is cut at its end when it is too long, never at its start. The options are
 * rendered in one place (src/ui/options.ts); each page's HTML is checked here, in both languages.
 */
const NOW = '2026-05-10T09:00:00.000Z';
let app: TestApp;
let session = '';
const seeded = { client: '', pkg: '', subscription: '', invoice: '', consumption: '', balance: '', creditType: '' };

beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: NOW });
  const sms = await createCreditType(app, { code: 'so-sms', name: 'رسائل SMS', unit: 'message' });
  const pkg = await createPackage(app, [{ credit_type: sms.code, units: 100 }], { code: 'so-gold', name: 'باقة Gold' });
  const client = await createClient(app, { name: 'شركة النور Alnoor' });
  const sold = await subscribe(app, client.id, pkg.code);
  const used = await app.request('POST', '/v1/consumptions?wait=true', {
    key: app.keys.write,
    body: { client: client.id, credit_type: sms.code, quantity: 2, idempotency_key: 'so-1' },
  });
  expect(used.status, used.text).toBe(200);
  Object.assign(seeded, {
    client: client.id,
    pkg: pkg.code,
    subscription: sold.id,
    invoice: sold.invoice.id,
    consumption: used.body.id,
    balance: sold.balances[0]!.id,
    creditType: sms.id,
  });
  session = await signInToUi(app.baseUrl, app.keys.admin);
});
afterAll(async () => {
  await app.close();
});

/** The pages, each with whether it has a select (so that a page checked is not one that shows no option at all). */
const pages = (): Array<[string, boolean]> => [
  ['/ui', false],
  ['/ui/clients', false],
  [`/ui/clients/${seeded.client}`, false],
  ['/ui/clients/new', false],
  [`/ui/clients/${seeded.client}/edit`, false],
  [`/ui/clients/${seeded.client}/sell`, true],
  [`/ui/clients/${seeded.client}/consume`, true],
  [`/ui/consumptions/${seeded.consumption}`, false],
  [`/ui/subscriptions/${seeded.subscription}`, false],
  [`/ui/balances/${seeded.balance}/adjust`, false],
  ['/ui/packages', false],
  [`/ui/packages/${seeded.pkg}`, false],
  ['/ui/packages/new', true],
  [`/ui/packages/${seeded.pkg}/edit`, true],
  ['/ui/credit-types', false],
  [`/ui/credit-types/${seeded.creditType}`, false],
  ['/ui/invoices', true],
  [`/ui/invoices/${seeded.invoice}`, false],
  ['/ui/reports', true],
  ['/ui/webhooks', false],
  ['/ui/webhooks/new', false],
  ['/ui/api-keys', true],
  ['/ui/audit', true],
];

describe('the options of every select', () => {
  it.each([['en'], ['ar']])('carry dir="auto" on every page (%s)', async (lang) => {
    const without: Record<string, string[]> = {};
    const counted: Record<string, number> = {};
    for (const [path, hasSelect] of pages()) {
      const res = await fetch(`${app.baseUrl}${path}`, {
        headers: { accept: 'text/html', cookie: `${session}; credits_lang=${lang}` },
        redirect: 'manual',
      });
      const page = await res.text();
      expect(res.status, `${path}: ${page.slice(0, 300)}`).toBe(200);
      const options = [...page.matchAll(/<option\b[^>]*>/g)].map((m) => m[0]);
      counted[path] = options.length;
      if (hasSelect) expect(options.length, `${path} shows a select`).toBeGreaterThan(0);
      const bare = options.filter((tag) => !/\sdir="auto"/.test(tag));
      if (bare.length > 0) without[path] = bare;
    }
    expect(without).toEqual({});
  });
});
