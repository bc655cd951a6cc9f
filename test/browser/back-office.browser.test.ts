import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { artifactPath, ensureChromium, launchBrowser, type TestBrowser } from '../helpers/browser.js';

/**
 * Issue 18's run, end to end in one browser and through the pages only: sign in with the form, create a
 * credit type, a package and a client, sell a subscription, quote then register a consumption and read
 * which balance paid, switch to Arabic with the header's switch — and then the API must agree with
 * every figure the pages showed. Nothing is created through the API first.
 */
const NOW = '2026-05-10T09:00:00.000Z';

let app: TestApp;
let browser: TestBrowser;
let page: Page;

const shot = (name: string) => page.screenshot({ path: artifactPath(name), fullPage: true });

/** Clicks and waits for the page the click leads to. */
async function clickTo(selector: string, url: RegExp): Promise<void> {
  await Promise.all([page.waitForURL(url), page.click(selector)]);
}

beforeAll(async () => {
  ensureChromium();
  app = await startTestApp({ roles: ['api', 'worker'], now: NOW });
  browser = await launchBrowser();
  page = await browser.context.newPage();
}, 5 * 60_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
});

describe('the back office, from an empty catalogue to a consumption, in English then Arabic', () => {
  let packageId = '';
  let clientId = '';
  let subscriptionId = '';
  let consumptionId = '';

  it('signs in through the form', async () => {
    await page.goto(`${app.baseUrl}/ui`);
    expect(page.url()).toContain('/ui/login');
    await page.getByLabel('Admin key').fill(app.keys.admin);
    await clickTo('button[type="submit"]', /\/ui$/);
    await expect(page.locator('html').getAttribute('dir')).resolves.toBe('ltr');
  });

  it('creates a credit type and a package through their forms', async () => {
    await page.click('nav a[href="/ui/credit-types"]');
    await page.waitForURL(/\/ui\/credit-types$/);
    await page.fill('#f-code', 'sms');
    await page.fill('#f-name', 'SMS');
    await page.fill('#f-unit', 'message');
    await clickTo('form[action="/ui/credit-types"] button[type="submit"]', /notice=credit_type_created/);

    await page.goto(`${app.baseUrl}/ui/packages`);
    await clickTo('a[data-action="new-package"]', /\/ui\/packages\/new$/);
    await page.fill('#f-code', 'sms-500');
    await page.fill('#f-name', 'SMS 500');
    await page.fill('#f-currency', 'KWD');
    await page.fill('#f-price', '12.500');
    await page.selectOption('#f-items-0-credit_type', 'sms');
    await page.fill('#f-items-0-units', '500');
    await clickTo('form[action="/ui/packages/new"] button[type="submit"]', /\/ui\/packages\/[0-9a-f-]{36}/);
    packageId = /\/ui\/packages\/([0-9a-f-]{36})/.exec(page.url())?.[1] ?? '';
    await expect(page.locator('main').textContent()).resolves.toContain('12.500');
  });

  it('creates a client, sells the package and shows its invoice', async () => {
    await page.goto(`${app.baseUrl}/ui/clients`);
    await clickTo('a[data-action="new-client"]', /\/ui\/clients\/new$/);
    await page.fill('#f-external_ref', 'noor-trading');
    await page.fill('#f-name', 'شركة النور للتجارة');
    await clickTo('form[action="/ui/clients/new"] button[type="submit"]', /\/ui\/clients\/[0-9a-f-]{36}/);
    clientId = /\/ui\/clients\/([0-9a-f-]{36})/.exec(page.url())?.[1] ?? '';

    await clickTo('a[data-action="sell"]', /\/sell$/);
    await page.selectOption('select[name="package"]', packageId);
    await clickTo('button[data-action="sell"]', /notice=subscription_sold/);
    subscriptionId = /\/ui\/subscriptions\/([0-9a-f-]{36})/.exec(page.url())?.[1] ?? '';
    await expect(page.locator('[data-invoice-total]').getAttribute('data-invoice-total')).resolves.toBe('12500');
    await shot('back-office-sold.png');
  });

  it('quotes, then registers a consumption and reads which balance paid', async () => {
    await page.goto(`${app.baseUrl}/ui/clients/${clientId}/consume`);
    await page.selectOption('select[name="credit_type"]', 'sms');
    await page.fill('input[name="quantity"]', '120');
    await page.click('button[data-action="quote"]');
    await page.waitForSelector('[data-quote]');
    await expect(page.locator('[data-quote]').getAttribute('data-quote')).resolves.toBe('apply');
    await clickTo('button[data-action="register"]', /notice=consumption_applied/);
    consumptionId = /\/ui\/consumptions\/([0-9a-f-]{36})/.exec(page.url())?.[1] ?? '';
    const shown = await page.$$eval('tr[data-allocation]', (rows) =>
      rows.map((r) => ({ balance: r.getAttribute('data-allocation'), amount: r.getAttribute('data-amount') })),
    );
    expect(shown).toHaveLength(1);
    expect(shown[0]?.amount).toBe('120');
    await shot('back-office-allocation.png');
  });

  it('switches to Arabic with the header switch and keeps it on the next page', async () => {
    await clickTo('a[data-lang-switch="ar"]', /lang=ar/);
    await expect(page.locator('html').getAttribute('dir')).resolves.toBe('rtl');
    await expect(page.locator('html').getAttribute('lang')).resolves.toBe('ar');
    await page.goto(`${app.baseUrl}/ui/clients/${clientId}`);
    await expect(page.locator('html').getAttribute('dir')).resolves.toBe('rtl');
    await expect(page.locator('nav').textContent()).resolves.toContain('العملاء');
    await expect(page.locator('body').textContent()).resolves.toMatch(/[\u0600-\u06FF]{3,}/);
    await shot('back-office-client-ar.png');
  });

  it('and the API agrees with what the pages showed', async () => {
    const read = (path: string) => app.request('GET', path, { key: app.keys.read });
    expect((await read(`/v1/packages/${packageId}`)).body).toMatchObject({
      code: 'sms-500',
      price: 12500,
      currency: 'KWD',
    });
    expect((await read(`/v1/subscriptions/${subscriptionId}`)).body).toMatchObject({
      status: 'active',
      client: { id: clientId },
    });
    const consumption = (await read(`/v1/consumptions/${consumptionId}`)).body;
    expect(consumption).toMatchObject({ status: 'applied', quantity: '120' });
    const balances = (await read(`/v1/clients/${clientId}/balances`)).body;
    expect(JSON.stringify(balances)).toContain('"remaining":"380"');
    const invoices = (await read(`/v1/invoices?subscription=${subscriptionId}`)).body;
    expect(invoices.data[0]).toMatchObject({ total: 12500, currency: 'KWD' });
  });
});
