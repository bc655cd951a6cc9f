import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { artifactPath, ensureChromium, launchBrowser, type TestBrowser } from '../helpers/browser.js';

/**
 * The setup workflow in Chromium (issue 18): sign in, create credit types and a package of two items
 * with the forms, see them listed and the API agree; the same in Arabic (right to left, Arabic labels).
 * Screenshots go to test/artifacts/.
 */
const NOW = '2026-03-15T10:00:00.000Z';

let app: TestApp;
let browser: TestBrowser;
let page: Page;

const shot = (name: string) => page.screenshot({ path: artifactPath(name), fullPage: true });

/** Submits the page's form whose action is `action` and waits for the page that answers. */
async function submit(action: string, expectUrl: RegExp): Promise<void> {
  await Promise.all([page.waitForURL(expectUrl), page.click(`form[action="${action}"] button[type="submit"]`)]);
}

async function createCreditType(fields: { code: string; name: string; unit: string; decimals: string }) {
  await page.fill('#f-code', fields.code);
  await page.fill('#f-name', fields.name);
  await page.fill('#f-unit', fields.unit);
  await page.fill('#f-decimals', fields.decimals);
  await submit('/ui/credit-types', /notice=credit_type_created/);
}

beforeAll(async () => {
  ensureChromium();
  app = await startTestApp({ roles: ['api', 'worker'], now: NOW });
  browser = await launchBrowser();
  page = await browser.context.newPage();
}, 15 * 60_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
});

describe('the setup forms in a browser', () => {
  it('signs in with the admin key', async () => {
    await page.goto(`${app.baseUrl}/ui/credit-types`);
    await page.fill('input[name="key"]', app.keys.admin);
    await Promise.all([page.waitForURL(`${app.baseUrl}/ui/credit-types`), page.click('button[type="submit"]')]);
    await expect(page.locator('h1').textContent()).resolves.toBe('Credit types');
  });

  it('creates two credit types with the form and lists them', async () => {
    await createCreditType({ code: 'sms', name: 'SMS', unit: 'message', decimals: '0' });
    await page.fill('#f-dimensions', 'branch, employee');
    await createCreditType({ code: 'support', name: 'Support', unit: 'hour', decimals: '2' });
    await expect(page.locator('[data-notice="credit_type_created"]').count()).resolves.toBe(1);
    await expect(page.locator('tr[data-credit-type]').count()).resolves.toBe(2);
    const support = await app.request('GET', '/v1/credit-types/support', { key: app.keys.read });
    expect(support.body).toMatchObject({ decimals: 2, unit: 'hour', dimensions: ['branch', 'employee'] });
    await shot('ui-setup-credit-types.png');
  });

  it('refuses a bad package beside its fields, then creates it with two items', async () => {
    await page.goto(`${app.baseUrl}/ui/packages`);
    await Promise.all([page.waitForURL(/\/ui\/packages\/new$/), page.click('a[data-action="new-package"]')]);
    await page.fill('#f-code', 'starter');
    await page.fill('#f-name', 'Starter');
    await page.fill('#f-currency', 'USD');
    await page.fill('#f-price', '49.999');
    await page.selectOption('#f-items-0-credit_type', 'sms');
    await page.fill('#f-items-0-units', '1000');
    await page.selectOption('#f-items-1-credit_type', 'support');
    await page.fill('#f-items-1-units', '2.5');
    await page.selectOption('#f-rollover-policy', 'percent');
    await page.fill('#f-rollover-percent', '50');
    await page.check('#f-auto_renew');
    const [answer] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/ui/packages/new') && r.request().method() === 'POST'),
      page.click('form[action="/ui/packages/new"] button[type="submit"]'),
    ]);
    expect(answer.status()).toBe(422);
    await page.locator('#error-price').waitFor();
    await expect(page.locator('#f-price').getAttribute('aria-invalid')).resolves.toBe('true');
    await expect(page.locator('#f-items-1-units').inputValue()).resolves.toBe('2.5');
    await shot('ui-setup-package-refused.png');

    await page.fill('#f-price', '49.99');
    await submit('/ui/packages/new', /\/ui\/packages\/[0-9a-f-]{36}\?notice=package_created$/);
    const view = await app.request('GET', '/v1/packages/starter', { key: app.keys.read });
    expect(view.body).toMatchObject({ price: 4999, currency: 'USD', auto_renew: true, rollover: { percent: 50 } });
    expect(view.body.items.map((i: { credit_type: { code: string }; units: string }) => i.units)).toEqual([
      '1000',
      '2.5',
    ]);
    await shot('ui-setup-package.png');
    await page.goto(`${app.baseUrl}/ui/packages`);
    await expect(page.getByText('Starter', { exact: true }).count()).resolves.toBe(1);
    await shot('ui-setup-packages.png');
  });

  it('does the same in Arabic, right to left', async () => {
    await page.goto(`${app.baseUrl}/ui/credit-types?lang=ar`);
    await expect(page.locator('html').getAttribute('dir')).resolves.toBe('rtl');
    await expect(page.locator('html').getAttribute('lang')).resolves.toBe('ar');
    await expect(page.locator('label[for="f-code"]').textContent()).resolves.toContain('الرمز');
    await expect(page.locator('h1').textContent()).resolves.toBe('أنواع الرصيد');
    await createCreditType({ code: 'calls', name: 'مكالمات', unit: 'دقيقة', decimals: '1' });
    await expect(page.locator('[data-notice="credit_type_created"]').textContent()).resolves.toContain(
      'أُنشئ نوع الرصيد',
    );
    await shot('ui-setup-credit-types-ar.png');

    await page.goto(`${app.baseUrl}/ui/packages/new`);
    await expect(page.locator('html').getAttribute('dir')).resolves.toBe('rtl');
    await expect(page.locator('label[for="f-price"]').textContent()).resolves.toContain('السعر');
    await page.fill('#f-code', 'ramadan');
    await page.fill('#f-name', 'باقة رمضان');
    await page.fill('#f-currency', 'SAR');
    await page.fill('#f-price', '١٥٠٫٥٠');
    await page.selectOption('#f-validity-calendar', 'islamic-umalqura');
    await page.selectOption('#f-items-0-credit_type', 'calls');
    await page.fill('#f-items-0-units', '300.5');
    await page.selectOption('#f-items-2-credit_type', 'sms');
    await page.fill('#f-items-2-units', '500');
    await shot('ui-setup-package-form-ar.png');
    await submit('/ui/packages/new', /notice=package_created$/);
    const view = await app.request('GET', '/v1/packages/ramadan', { key: app.keys.read });
    expect(view.body).toMatchObject({
      name: 'باقة رمضان',
      price: 15050,
      currency: 'SAR',
      validity: { count: 1, unit: 'month', calendar: 'islamic-umalqura' },
    });
    expect(view.body.items.map((i: { credit_type: { code: string } }) => i.credit_type.code)).toEqual(['calls', 'sms']);
    await page.goto(`${app.baseUrl}/ui/packages`);
    await expect(page.locator('html').getAttribute('dir')).resolves.toBe('rtl');
    await expect(page.getByText('باقة رمضان').count()).resolves.toBe(1);
    await shot('ui-setup-packages-ar.png');
  });

  it('creates a client and a webhook endpoint, shows the secret once and the deliveries page', async () => {
    await page.goto(`${app.baseUrl}/ui/clients?lang=en`);
    await Promise.all([page.waitForURL(/\/ui\/clients\/new$/), page.click('a[data-action="new-client"]')]);
    await page.fill('#f-external_ref', 'crm-1');
    await page.fill('#f-name', 'Acme Logistics');
    await page.fill('#f-email', 'ops@acme.example');
    await page.fill('#f-metadata', 'tier=gold');
    await submit('/ui/clients/new', /notice=client_created$/);
    const client = await app.request('GET', '/v1/clients/crm-1', { key: app.keys.read });
    expect(client.body).toMatchObject({ name: 'Acme Logistics', metadata: { tier: 'gold' } });
    await page.goto(`${app.baseUrl}/ui/clients/crm-1/edit`);
    await shot('ui-setup-client-edit.png');
    const sms = await app.request('GET', '/v1/credit-types/sms', { key: app.keys.read });
    await page.goto(`${app.baseUrl}/ui/credit-types/${sms.body.id}`);
    await shot('ui-setup-credit-type-edit.png');

    await page.goto(`${app.baseUrl}/ui/webhooks`);
    await Promise.all([page.waitForURL(/\/ui\/webhooks\/new$/), page.click('a[data-action="new-webhook"]')]);
    await page.fill('#f-url', 'https://hooks.example.com/credits');
    await page.fill('#f-description', 'billing');
    await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/ui/webhooks/new') && r.request().method() === 'POST'),
      page.click('form[action="/ui/webhooks/new"] button[type="submit"]'),
    ]);
    const secret = await page.locator('[data-secret]').textContent();
    expect(secret).toMatch(/^whsec_/);
    await shot('ui-setup-webhook-created.png');
    await page.goto(`${app.baseUrl}/ui/webhooks`);
    expect(await page.content()).not.toContain(secret!);
    await page.click('td a[href$="/deliveries"]');
    await page.waitForURL(/\/deliveries$/);
    expect(await page.content()).not.toContain(secret!);
    await shot('ui-setup-webhook-deliveries.png');
  });
});
