import type { Page, Response } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CATALOG } from '../../src/ui/i18n/messages/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { artifactPath, ensureChromium, launchBrowser, type TestBrowser } from '../helpers/browser.js';

/**
 * Issue 18's check as a person would do it, on a fresh database, with the mistakes a person makes on
 * the way: every field is found by its label (as a screen reader or a test written from the issue would
 * find it), names are Arabic, amounts and quantities are typed with Arabic-Indic digits, and each wrong
 * try (empty fields, a price with too many decimals, a package with no items, a sale with no package, a
 * use larger than the balance) must answer the field's message — never a 500 — and write nothing. Then
 * the pages switch to Arabic, and the HTTP API agrees with every figure the pages showed.
 */
const NOW = '2026-03-01T08:00:00.000Z';

let app: TestApp;
let browser: TestBrowser;
let page: Page;
/** Every answer of 500 or more the browser got, whatever page asked for it. */
const serverErrors: string[] = [];

/** An Arabic text of the catalogue (a plain one, not plural forms). */
const ar = (key: keyof (typeof CATALOG)['ar']): string => String(CATALOG.ar[key]);

const shot = (name: string) => page.screenshot({ path: artifactPath(name), fullPage: true });
const mainText = async () => ((await page.locator('main').textContent()) ?? '').replace(/\s+/g, ' ');
/** The messages shown beside fields. */
const fieldMessages = () => page.locator('main .field-error').allInnerTexts();

/** Clicks a submit button and waits for the answer page; its status. */
async function submit(button: ReturnType<Page['getByRole']>): Promise<number> {
  const [response] = await Promise.all([page.waitForNavigation(), button.click()]);
  return (response as Response | null)?.status() ?? 0;
}

const ids = { creditType: '', package: '', client: '', subscription: '', consumption: '', invoice: '' };
/** What the pages showed, to hold the API to. */
const shown = { invoiceNumber: '', invoiceTotal: '', allocations: [] as Array<{ balance: string; amount: string }> };

beforeAll(async () => {
  ensureChromium();
  app = await startTestApp({ roles: ['api', 'worker'], now: NOW });
  browser = await launchBrowser();
  page = await browser.context.newPage();
  page.on('response', (r) => {
    if (r.status() >= 500) serverErrors.push(`${r.status()} ${r.request().method()} ${r.url()}`);
  });
}, 5 * 60_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
});

describe('issue 18, re-enacted on an empty database with a person’s mistakes', () => {
  it('starts with nothing: no credit type, no package, no client', async () => {
    for (const path of ['/v1/credit-types', '/v1/packages', '/v1/clients']) {
      const res = await app.request('GET', path, { key: app.keys.read });
      expect(res.body.data, path).toEqual([]);
    }
  });

  it('signs in through the login form (a wrong key first)', async () => {
    await page.goto(`${app.baseUrl}/ui`);
    expect(new URL(page.url()).pathname).toBe('/ui/login');
    await page.getByLabel('Admin key').fill('crd_not-a-key');
    expect(await submit(page.getByRole('button', { name: 'Sign in' }))).toBe(401);
    await page.getByLabel('Admin key').fill(app.keys.admin);
    expect(await submit(page.getByRole('button', { name: 'Sign in' }))).toBe(200);
    expect(new URL(page.url()).pathname).toBe('/ui');
  });

  it('creates a credit type: an empty form is told field by field, then an Arabic name and unit', async () => {
    await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Credit types' }).click();
    await page.waitForURL(/\/ui\/credit-types$/);
    const create = page.getByRole('button', { name: 'Create credit type' });
    expect(await submit(create)).toBe(422);
    expect(await fieldMessages()).toEqual(['Required.', 'Required.', 'Required.']);
    await page.getByLabel('Code', { exact: true }).fill('sms');
    await page.getByLabel('Name', { exact: true }).fill('رسائل نصية');
    await page.getByLabel('Unit', { exact: true }).fill('رسالة');
    expect(await submit(create)).toBe(200);
    expect(page.url()).toContain('notice=credit_type_created');
    expect(await mainText()).toContain('رسائل نصية');
    const listed = await app.request('GET', '/v1/credit-types', { key: app.keys.read });
    expect(listed.body.data).toMatchObject([{ code: 'sms', name: 'رسائل نصية', unit: 'رسالة', decimals: 0 }]);
    ids.creditType = listed.body.data[0].id;
  });

  it('creates a package: too many decimals, then no items, are each told; Arabic-Indic digits are read', async () => {
    await page.goto(`${app.baseUrl}/ui/packages`);
    await Promise.all([
      page.waitForURL(/\/ui\/packages\/new$/),
      page.getByRole('link', { name: /New package/ }).click(),
    ]);
    await page.getByLabel('Code', { exact: true }).fill('ramadan-1000');
    await page.getByLabel('Name', { exact: true }).fill('باقة رمضان');
    await page.getByLabel('Currency', { exact: true }).fill('SAR');
    await page.getByLabel('Price', { exact: true }).fill('١٥٠٫٧٥٥');
    await page.getByLabel('Credit type 1').selectOption('sms');
    await page.getByLabel('Units 1').fill('١٬٠٠٠');
    const create = page.getByRole('button', { name: 'Create package' });
    expect(await submit(create)).toBe(422);
    expect(await fieldMessages()).toEqual([
      'Write an amount such as 49.00, with digits and at most 2 decimal places for this currency.',
    ]);
    // the values come back as typed
    await expect(page.getByLabel('Units 1').inputValue()).resolves.toBe('١٬٠٠٠');
    await page.getByLabel('Price', { exact: true }).fill('١٥٠٫٧٥');
    await page.getByLabel('Credit type 1').selectOption('');
    await page.getByLabel('Units 1').fill('');
    expect(await submit(create)).toBe(422);
    expect((await fieldMessages()).join(' ')).toContain('A package holds at least one item.');
    await page.getByLabel('Credit type 1').selectOption('sms');
    await page.getByLabel('Units 1').fill('١٬٠٠٠');
    expect(await submit(create)).toBe(200);
    ids.package = /\/ui\/packages\/([0-9a-f-]{36})\?notice=package_created$/.exec(page.url())?.[1] ?? '';
    expect(ids.package).not.toBe('');
    expect(await mainText()).toContain('SAR 150.75');
    await shot('issue-18-package.png');
  });

  it('creates a client with an Arabic name and finds it with the search', async () => {
    await page.goto(`${app.baseUrl}/ui/clients`);
    await Promise.all([page.waitForURL(/\/ui\/clients\/new$/), page.getByRole('link', { name: /New client/ }).click()]);
    const create = page.getByRole('button', { name: 'Create client' });
    expect(await submit(create)).toBe(422);
    expect(await fieldMessages()).toEqual(['Required.', 'Required.']);
    await page.getByLabel('External reference', { exact: true }).fill('مؤسسة-النخيل');
    await page.getByLabel('Name', { exact: true }).fill('مؤسسة النخيل');
    expect(await submit(create)).toBe(200);
    ids.client = /\/ui\/clients\/([0-9a-f-]{36})\?notice=client_created$/.exec(page.url())?.[1] ?? '';
    expect(ids.client).not.toBe('');
    await page.goto(`${app.baseUrl}/ui/clients`);
    await page.getByRole('searchbox').fill('النخيل');
    expect(await submit(page.getByRole('button', { name: 'Search' }))).toBe(200);
    expect(await page.getByRole('link', { name: 'مؤسسة النخيل' }).count()).toBe(1);
  });

  it('sells the package: no package chosen is told; then the invoice is shown', async () => {
    await page.goto(`${app.baseUrl}/ui/clients/${ids.client}`);
    await Promise.all([page.waitForURL(/\/sell$/), page.getByRole('link', { name: 'Sell a subscription' }).click()]);
    const sell = page.getByRole('button', { name: 'Sell', exact: true });
    expect(await submit(sell)).toBe(422);
    expect(await fieldMessages()).toEqual(['Required.']);
    await page.getByLabel('Package').selectOption(ids.package);
    expect(await submit(sell)).toBe(200);
    ids.subscription = /\/ui\/subscriptions\/([0-9a-f-]{36})\?notice=subscription_sold$/.exec(page.url())?.[1] ?? '';
    expect(ids.subscription).not.toBe('');
    const invoice = page.locator('.invoice').first();
    ids.invoice = (await invoice.getAttribute('data-invoice')) ?? '';
    shown.invoiceNumber = (await invoice.getAttribute('data-number')) ?? '';
    shown.invoiceTotal = (await page.locator('[data-invoice-total]').first().getAttribute('data-invoice-total')) ?? '';
    expect(shown.invoiceNumber).toMatch(/^INV-/);
    expect(shown.invoiceTotal).toBe('15075');
    expect(await mainText()).toContain('SAR 150.75');
    await shot('issue-18-sold.png');
  });

  it('quotes and refuses a use larger than the balance, writing nothing; an empty quantity is told', async () => {
    await page.goto(`${app.baseUrl}/ui/clients/${ids.client}/consume`);
    const register = page.getByRole('button', { name: 'Register' });
    expect(await submit(register)).toBe(422);
    expect(await fieldMessages()).toEqual(['Required.']);
    await page.getByLabel('Quantity').fill('١٥٠٠');
    expect(await submit(page.getByRole('button', { name: 'Quote' }))).toBe(200);
    await expect(page.locator('[data-quote]').getAttribute('data-quote')).resolves.toBe('reject');
    expect(await submit(register)).toBe(422);
    await expect(page.locator('[data-refusal]').getAttribute('data-refusal')).resolves.toBe('insufficient_balance');
    expect(await mainText()).toMatch(/the client has 1,000 رسالة, the use asks 1,500 رسالة, 500 رسالة short/);
    const uses = await app.request('GET', `/v1/consumptions?client=${ids.client}`, { key: app.keys.read });
    expect(uses.body.data.filter((u: { status: string }) => u.status !== 'rejected')).toEqual([]);
  });

  it('quotes, registers a use typed in Arabic-Indic digits, and reads which balance paid', async () => {
    await page.getByLabel('Quantity').fill('٢٥٠');
    expect(await submit(page.getByRole('button', { name: 'Quote' }))).toBe(200);
    await expect(page.locator('[data-quote]').getAttribute('data-quote')).resolves.toBe('apply');
    const quoted = await page.$$eval('[data-quote] tr[data-allocation]', (rows) =>
      rows.map((r) => ({
        balance: r.getAttribute('data-allocation') ?? '',
        amount: r.getAttribute('data-amount') ?? '',
      })),
    );
    expect(quoted).toHaveLength(1);
    expect(await submit(page.getByRole('button', { name: 'Register' }))).toBe(200);
    ids.consumption = /\/ui\/consumptions\/([0-9a-f-]{36})\?notice=consumption_applied$/.exec(page.url())?.[1] ?? '';
    expect(ids.consumption).not.toBe('');
    shown.allocations = await page.$$eval('tr[data-allocation]', (rows) =>
      rows.map((r) => ({
        balance: r.getAttribute('data-allocation') ?? '',
        amount: r.getAttribute('data-amount') ?? '',
      })),
    );
    expect(shown.allocations).toEqual([{ balance: quoted[0]!.balance, amount: '250' }]);
    await expect(page.locator('[data-remaining]').getAttribute('data-remaining')).resolves.toBe('750');
    expect(await mainText()).toContain('250 رسالة');
    await shot('issue-18-allocation.png');
  });

  it('switches to Arabic: lang="ar", dir="rtl", Arabic labels from the catalogue, kept on', async () => {
    await Promise.all([page.waitForURL(/lang=ar/), page.getByRole('link', { name: 'العربية' }).click()]);
    await expect(page.locator('html').getAttribute('dir')).resolves.toBe('rtl');
    await expect(page.locator('html').getAttribute('lang')).resolves.toBe('ar');
    await expect(page.locator('h1').textContent()).resolves.toBe(ar('commerce.consumption.title'));
    expect(await mainText()).toContain(ar('commerce.allocation.heading'));
    expect(await mainText()).toContain('٢٥٠ رسالة');
    await page.goto(`${app.baseUrl}/ui/clients/${ids.client}/consume`);
    await expect(page.locator('html').getAttribute('dir')).resolves.toBe('rtl');
    expect(await page.getByLabel(ar('commerce.consume.quantity')).count()).toBe(1);
    await expect(page.getByRole('navigation').first().textContent()).resolves.toContain(ar('nav.clients'));
    // a wrong try in Arabic is told in Arabic, beside its field
    await page.getByLabel(ar('commerce.consume.quantity')).fill('');
    expect(await submit(page.getByRole('button', { name: ar('commerce.consume.register'), exact: true }))).toBe(422);
    expect(await fieldMessages()).toEqual([ar('form.required')]);
    await page.goto(`${app.baseUrl}/ui/clients/${ids.client}`);
    expect(await mainText()).toContain('٧٥٠');
    await shot('issue-18-client-ar.png');
  });

  it('and the API agrees with what the pages showed', async () => {
    const read = (path: string) => app.request('GET', path, { key: app.keys.read });
    expect((await read(`/v1/packages/${ids.package}`)).body).toMatchObject({
      code: 'ramadan-1000',
      name: 'باقة رمضان',
      price: 15075,
      currency: 'SAR',
      items: [{ credit_type: { code: 'sms' }, units: '1000' }],
    });
    expect((await read(`/v1/subscriptions/${ids.subscription}`)).body).toMatchObject({
      status: 'active',
      client: { id: ids.client },
    });
    const consumption = (await read(`/v1/consumptions/${ids.consumption}`)).body;
    expect(consumption).toMatchObject({ status: 'applied', quantity: '250', applied: '250', remaining: '750' });
    expect(
      consumption.allocations.map((a: { balance_id: string; amount: string }) => [a.balance_id, a.amount]),
    ).toEqual(shown.allocations.map((a) => [a.balance, a.amount]));
    const balances = (await read(`/v1/clients/${ids.client}/balances`)).body;
    expect(balances.data).toMatchObject([{ credit_type: { code: 'sms' }, remaining: '750' }]);
    const invoice = (await read(`/v1/invoices/${ids.invoice}`)).body;
    expect(invoice).toMatchObject({ number: shown.invoiceNumber, total: Number(shown.invoiceTotal), currency: 'SAR' });
  });

  it('never answered a 500 on the way', () => {
    expect(serverErrors).toEqual([]);
  });
});
