import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { artifactPath, ensureChromium, launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { createClient, createCreditType, createPackage } from '../helpers/fixtures.js';

/**
 * The operator's daily work in a real browser (Debian chromium driven by playwright-core): sign in
 * with the form, sell a subscription and read its invoice, quote and register a consumption and read
 * which balances paid, then the same in Arabic (right to left). After each step the API must say what
 * the page showed. Screenshots go to test/artifacts/.
 */
const NOW = '2026-03-15T10:00:00.000Z';
const ARABIC_CLIENT = 'مؤسسة الفجر للتجارة';

let app: TestApp;
let browser: TestBrowser;
let page: Page;
let clientId: string;
let packageId: string;
let subscriptionId: string;

const shot = (name: string) => page.screenshot({ path: artifactPath(name), fullPage: true });

/** Clicks a submit button and waits for the page the form leads to. */
async function submit(selector: string): Promise<void> {
  await Promise.all([page.waitForEvent('load'), page.click(selector)]);
}

/** The allocation table of a consumption or quote as the page shows it: balance id → amount. */
const allocationsShown = async (): Promise<Record<string, string>> =>
  page.$$eval('tr[data-allocation]', (rows) =>
    Object.fromEntries(rows.map((r) => [r.getAttribute('data-allocation'), r.getAttribute('data-amount')])),
  );

beforeAll(async () => {
  ensureChromium();
  app = await startTestApp({ roles: ['api', 'worker'], now: NOW });
  const sms = await createCreditType(app, { code: 'sms', name: 'SMS', unit: 'message', dimensions: ['branch'] });
  const pkg = await createPackage(app, [{ credit_type: sms.code, units: 500 }], {
    code: 'gold-sms',
    name: 'باقة الذهب',
    price: 15000,
    currency: 'SAR',
  });
  packageId = pkg.id;
  clientId = (await createClient(app, { external_ref: 'alfajr', name: ARABIC_CLIENT })).id;
  browser = await launchBrowser();
  page = await browser.context.newPage();
}, 5 * 60_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
});

describe('the daily work in a browser', () => {
  it('signs in through the form', async () => {
    await page.goto(`${app.baseUrl}/ui/clients/${clientId}`);
    expect(page.url()).toContain('/ui/login');
    await page.fill('input[name="key"]', app.keys.admin);
    await Promise.all([page.waitForURL(`${app.baseUrl}/ui/clients/${clientId}`), page.click('button[type="submit"]')]);
  });

  it('sells a subscription and shows its invoice, as the API has them', async () => {
    await Promise.all([page.waitForURL(/\/sell$/), page.click('a[data-action="sell"]')]);
    await page.selectOption('select[name="package"]', packageId);
    await page.fill('input[name="price"]', '120.00');
    await shot('ui-commerce-sell.png');
    await Promise.all([page.waitForURL(/notice=subscription_sold/), page.click('button[data-action="sell"]')]);
    subscriptionId = /\/ui\/subscriptions\/([0-9a-f-]{36})/.exec(page.url())![1]!;
    const number = await page.locator('.invoice').getAttribute('data-number');
    const total = await page.locator('[data-invoice-total]').getAttribute('data-invoice-total');
    await expect(page.locator('.notice').textContent()).resolves.toContain('sold');
    await shot('ui-commerce-subscription.png');

    const view = (await app.request('GET', `/v1/subscriptions/${subscriptionId}`, { key: app.keys.read })).body;
    expect(view).toMatchObject({ status: 'active', price: 12000, currency: 'SAR', client: { id: clientId } });
    const invoices = await app.request('GET', `/v1/invoices?subscription=${subscriptionId}`, { key: app.keys.read });
    expect(invoices.body.data).toHaveLength(1);
    expect(invoices.body.data[0]).toMatchObject({ number, total: Number(total), status: 'issued' });
  });

  it('quotes, then registers a consumption and reads which balances paid', async () => {
    await page.goto(`${app.baseUrl}/ui/clients/${clientId}`);
    await Promise.all([page.waitForURL(/\/consume$/), page.click('a[data-action="consume"]')]);
    await page.selectOption('select[name="credit_type"]', 'sms');
    await page.fill('input[name="quantity"]', '45');
    await page.fill('input[name="dim.branch"]', 'Jeddah');
    await submit('button[data-action="quote"]');
    await expect(page.locator('[data-quote]').getAttribute('data-quote')).resolves.toBe('apply');
    const quoted = await allocationsShown();
    expect(Object.values(quoted)).toEqual(['45']);
    await shot('ui-commerce-quote.png');
    // the quote wrote nothing
    const before = (await app.request('GET', `/v1/consumptions?client=${clientId}`, { key: app.keys.read })).body;
    expect(before.data).toHaveLength(0);

    await Promise.all([page.waitForURL(/notice=consumption_applied/), page.click('button[data-action="register"]')]);
    const consumptionId = /\/ui\/consumptions\/([0-9a-f-]{36})/.exec(page.url())![1]!;
    const shown = await allocationsShown();
    const remaining = await page.locator('[data-remaining]').getAttribute('data-remaining');
    await shot('ui-commerce-consumption.png');

    const api = (await app.request('GET', `/v1/consumptions/${consumptionId}`, { key: app.keys.read })).body;
    expect(api).toMatchObject({ status: 'applied', applied: '45', remaining, dimensions: { branch: 'Jeddah' } });
    expect(shown).toEqual(
      Object.fromEntries(api.allocations.map((a: { balance_id: string; amount: string }) => [a.balance_id, a.amount])),
    );
    expect(Object.keys(shown)).toEqual(Object.keys(quoted));
  });

  it('does the same in Arabic, right to left', async () => {
    await page.goto(`${app.baseUrl}/ui/clients/${clientId}/consume?lang=ar`);
    await expect(page.locator('html').getAttribute('dir')).resolves.toBe('rtl');
    await expect(page.locator('html').getAttribute('lang')).resolves.toBe('ar');
    await expect(page.locator('h1').textContent()).resolves.toBe('تسجيل استهلاك');
    await expect(page.locator('button[data-action="register"]').textContent()).resolves.toBe('تسجيل');
    // a use larger than what is left: refused in Arabic with the figures, nothing taken
    await page.fill('input[name="quantity"]', '٩٠٠');
    await submit('button[data-action="register"]');
    await expect(page.locator('[data-refusal]').textContent()).resolves.toContain('الرصيد غير كافٍ');
    await shot('ui-commerce-insufficient-ar.png');
    await page.fill('input[name="quantity"]', '١٥');
    await submit('button[data-action="quote"]');
    await expect(page.locator('#quote-h').textContent()).resolves.toBe('المعاينة');
    await shot('ui-commerce-quote-ar.png');
    await Promise.all([page.waitForURL(/notice=consumption_applied/), page.click('button[data-action="register"]')]);
    await expect(page.locator('html').getAttribute('dir')).resolves.toBe('rtl');
    await expect(page.locator('#alloc-h').textContent()).resolves.toBe('الأرصدة التي خُصم منها');
    const consumptionId = /\/ui\/consumptions\/([0-9a-f-]{36})/.exec(page.url())![1]!;
    const shown = await allocationsShown();
    await shot('ui-commerce-consumption-ar.png');

    await page.goto(`${app.baseUrl}/ui/subscriptions/${subscriptionId}`);
    await expect(page.locator('html').getAttribute('dir')).resolves.toBe('rtl');
    await expect(page.locator('#sub-inv-h').textContent()).resolves.toBe('الفواتير');
    await shot('ui-commerce-subscription-ar.png');
    await page.goto(`${app.baseUrl}/ui/invoices`);
    await shot('ui-commerce-invoices-ar.png');

    const api = (await app.request('GET', `/v1/consumptions/${consumptionId}`, { key: app.keys.read })).body;
    expect(api).toMatchObject({ status: 'applied', quantity: '15', applied: '15', remaining: '440' });
    expect(shown).toEqual(
      Object.fromEntries(api.allocations.map((a: { balance_id: string; amount: string }) => [a.balance_id, a.amount])),
    );
    // the refused use took nothing: 500 − 45 − 15
    const balances = (await app.request('GET', `/v1/clients/${clientId}/balances`, { key: app.keys.read })).body;
    expect(balances.data[0].remaining).toBe('440');
  });
});
