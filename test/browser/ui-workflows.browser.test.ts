import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { artifactPath, ensureChromium, launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { createClient, createCreditType, createPackage } from '../helpers/fixtures.js';

/**
 * The workflows of issue 18 the other browser tests do not walk, each in Chromium through its page and
 * then read back from the API: edit and archive a credit type and a package, edit a client; suspend,
 * resume, freeze, unfreeze and cancel a subscription; reverse a consumption; adjust a balance with a
 * reason; pay and void invoices; make an API key (shown once) and revoke it; and the audit page names
 * each of those changes. No answer of 500 or more on the way.
 */
const NOW = '2026-05-10T09:00:00.000Z';

let app: TestApp;
let browser: TestBrowser;
let page: Page;
const serverErrors: string[] = [];
let sms: { id: string; code: string };
let pack: { id: string; code: string };
let client: { id: string; external_ref: string };
let subscription = '';

const api = async (path: string) => (await app.request('GET', path, { key: app.keys.read })).body;
const shot = (name: string) => page.screenshot({ path: artifactPath(name), fullPage: true });

/** Clicks a submit button and waits for the page it leads to; that page's status. */
async function submit(selector: string): Promise<number> {
  const [response] = await Promise.all([page.waitForNavigation(), page.click(selector)]);
  return response?.status() ?? 0;
}

/** Sells the package to the client through the sale form; the subscription's id and its invoice's id. */
async function sell(options: { activation?: string } = {}): Promise<{ subscription: string; invoice: string }> {
  await page.goto(`${app.baseUrl}/ui/clients/${client.id}/sell`);
  await page.getByLabel('Package').selectOption(pack.id);
  if (options.activation) await page.getByLabel('Activation').selectOption(options.activation);
  expect(await submit('button[data-action="sell"]')).toBe(200);
  const id = /\/ui\/subscriptions\/([0-9a-f-]{36})/.exec(page.url())?.[1] ?? '';
  return { subscription: id, invoice: (await page.locator('.invoice').first().getAttribute('data-invoice')) ?? '' };
}

beforeAll(async () => {
  ensureChromium();
  app = await startTestApp({ roles: ['api', 'worker'], now: NOW });
  sms = await createCreditType(app, { code: 'w-sms', name: 'SMS', unit: 'message' });
  pack = await createPackage(app, [{ credit_type: sms.code, units: 100 }], {
    code: 'w-pack',
    name: 'Starter',
    price: 4900,
    max_freeze_days: 30,
  });
  client = await createClient(app, { external_ref: 'w-client', name: 'Workflow Co.' });
  browser = await launchBrowser();
  page = await browser.context.newPage();
  // a step that cannot find its control says which one, before the test's own timeout
  page.setDefaultTimeout(10_000);
  page.on('response', (r) => {
    if (r.status() >= 500) serverErrors.push(`${r.status()} ${r.request().method()} ${r.url()}`);
  });
  await page.goto(`${app.baseUrl}/ui/login`);
  await page.getByLabel('Admin key').fill(app.keys.admin);
  expect(await submit('button[type="submit"]')).toBe(200);
}, 5 * 60_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
});

describe('the rest of the operator’s workflows in a browser', () => {
  it('edits a credit type’s name and dimensions, archives it and brings it back', async () => {
    await page.goto(`${app.baseUrl}/ui/credit-types/${sms.id}`);
    await page.getByLabel('Name', { exact: true }).fill('Text messages');
    await page.getByLabel('Dimensions', { exact: true }).fill('branch, employee');
    expect(await submit('main form:has(#f-name) button[type="submit"]')).toBe(200);
    expect(await api(`/v1/credit-types/${sms.id}`)).toMatchObject({
      name: 'Text messages',
      dimensions: ['branch', 'employee'],
    });
    await page.goto(`${app.baseUrl}/ui/credit-types/${sms.id}`);
    expect(await submit('button[data-action="archive"]')).toBe(200);
    expect(await api(`/v1/credit-types/${sms.id}`)).toMatchObject({ archived: true });
    await page.goto(`${app.baseUrl}/ui/credit-types/${sms.id}`);
    expect(await submit('button[data-action="unarchive"]')).toBe(200);
    expect(await api(`/v1/credit-types/${sms.id}`)).toMatchObject({ archived: false });
  });

  it('edits a package’s price and priority, refuses a bad price beside it, archives and restores it', async () => {
    await page.goto(`${app.baseUrl}/ui/packages/${pack.id}/edit`);
    await page.getByLabel('Price', { exact: true }).fill('55.555');
    expect(await submit('#package-form button[type="submit"]')).toBe(422);
    expect(await page.locator('#error-price').textContent()).toMatch(/at most 2 decimal places/);
    await page.getByLabel('Price', { exact: true }).fill('55.50');
    await page.getByLabel('Priority', { exact: true }).fill('20');
    expect(await submit('#package-form button[type="submit"]')).toBe(200);
    expect(await api(`/v1/packages/${pack.id}`)).toMatchObject({ price: 5550, priority: 20 });
    await page.goto(`${app.baseUrl}/ui/packages/${pack.id}/edit`);
    expect(await submit('button[data-action="archive"]')).toBe(200);
    expect(await api(`/v1/packages/${pack.id}`)).toMatchObject({ status: 'archived' });
    await page.goto(`${app.baseUrl}/ui/packages/${pack.id}/edit`);
    expect(await submit('button[data-action="unarchive"]')).toBe(200);
    expect(await api(`/v1/packages/${pack.id}`)).toMatchObject({ status: 'active' });
  });

  it('edits a client', async () => {
    await page.goto(`${app.baseUrl}/ui/clients/${client.id}/edit`);
    await page.getByLabel('Name', { exact: true }).fill('شركة سير العمل');
    await page.getByLabel('E-mail', { exact: true }).fill('ops@workflow.example');
    expect(await submit('main form button[type="submit"]')).toBe(200);
    expect(await api(`/v1/clients/${client.id}`)).toMatchObject({
      name: 'شركة سير العمل',
      email: 'ops@workflow.example',
    });
  });

  it('suspends, resumes, freezes and unfreezes a subscription, then cancels it at the period’s end', async () => {
    subscription = (await sell()).subscription;
    expect(await submit('button[data-action="suspend"]')).toBe(200);
    expect(await api(`/v1/subscriptions/${subscription}`)).toMatchObject({ status: 'suspended' });
    expect(await submit('button[data-action="resume"]')).toBe(200);
    expect(await api(`/v1/subscriptions/${subscription}`)).toMatchObject({ status: 'active' });
    await page.goto(`${app.baseUrl}/ui/clients/${client.id}`);
    await page.fill(`form.freeze:has([data-subscription="${subscription}"]) input[name="days"]`, '7');
    expect(await submit(`button[data-action="freeze"][data-subscription="${subscription}"]`)).toBe(200);
    expect(await api(`/v1/subscriptions/${subscription}`)).toMatchObject({ status: 'frozen' });
    expect(await submit(`button[data-action="unfreeze"][data-subscription="${subscription}"]`)).toBe(200);
    expect(await api(`/v1/subscriptions/${subscription}`)).toMatchObject({ status: 'active' });
    await page.goto(`${app.baseUrl}/ui/subscriptions/${subscription}`);
    expect(await submit('button[data-action="cancel"]')).toBe(200);
    // it asks first: the way back changes nothing
    expect(await page.locator('h1').textContent()).toBe('Cancel this subscription at the end of its period?');
    await Promise.all([page.waitForURL(/\/ui\/subscriptions\/[^/]+$/), page.click('a[data-action="back"]')]);
    expect(await api(`/v1/subscriptions/${subscription}`)).toMatchObject({ cancel_at_period_end: false });
    expect(await submit('button[data-action="cancel"]')).toBe(200);
    expect(await submit('button[data-action="confirm-cancel"]')).toBe(200);
    expect(await api(`/v1/subscriptions/${subscription}`)).toMatchObject({
      status: 'active',
      cancel_at_period_end: true,
    });
    await shot('workflows-subscription.png');
  });

  it('registers a consumption and reverses it; the units go back', async () => {
    await page.goto(`${app.baseUrl}/ui/clients/${client.id}/consume`);
    await page.getByLabel('Quantity').fill('30');
    expect(await submit('button[data-action="register"]')).toBe(200);
    const consumption = /\/ui\/consumptions\/([0-9a-f-]{36})/.exec(page.url())?.[1] ?? '';
    expect((await api(`/v1/clients/${client.id}/balances`)).data[0]).toMatchObject({ remaining: '70' });
    await page.getByLabel('Reason (optional)').fill('entered twice');
    expect(await submit('button[data-action="reverse"]')).toBe(200);
    expect(await api(`/v1/consumptions/${consumption}`)).not.toMatchObject({ status: 'reversed' });
    // the confirmation by keyboard alone: from the way back, Tab reaches the button, Enter sends it
    await page.focus('a[data-action="back"]');
    await page.keyboard.press('Tab');
    expect(await page.locator(':focus').getAttribute('data-action')).toBe('confirm-reverse');
    const [reversed] = await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    expect(reversed?.status()).toBe(200);
    expect(await api(`/v1/consumptions/${consumption}`)).toMatchObject({ status: 'reversed' });
    expect((await api(`/v1/clients/${client.id}/balances`)).data[0]).toMatchObject({ remaining: '100' });
  });

  it('adjusts a balance: an empty change and reason are told beside them, then units are added', async () => {
    await page.goto(`${app.baseUrl}/ui/subscriptions/${subscription}`);
    await Promise.all([page.waitForURL(/\/adjust$/), page.click('a[data-action="adjust"]')]);
    expect(await submit('form[data-form="adjust"] button[type="submit"]')).toBe(422);
    expect(await page.locator('main .field-error').allTextContents()).toEqual(['Required.', 'Required.']);
    await page.locator('form[data-form="adjust"] input[name="delta"]').fill('15');
    await page.locator('form[data-form="adjust"] input[name="reason"]').fill('goodwill');
    expect(await submit('form[data-form="adjust"] button[type="submit"]')).toBe(200);
    expect((await api(`/v1/clients/${client.id}/balances`)).data[0]).toMatchObject({ remaining: '115' });
  });

  it('lists invoices, pays one and voids another', async () => {
    const first = await api(`/v1/invoices?subscription=${subscription}`);
    const second = await sell({ activation: 'on_payment' });
    await page.goto(`${app.baseUrl}/ui/invoices`);
    expect(await page.locator(`tr[data-invoice="${first.data[0].id}"]`).count()).toBe(1);
    expect(await page.locator(`tr[data-invoice="${second.invoice}"]`).count()).toBe(1);
    await page.goto(`${app.baseUrl}/ui/invoices/${first.data[0].id}`);
    expect(await submit('button[data-action="pay"]')).toBe(200);
    expect(await api(`/v1/invoices/${first.data[0].id}`)).toMatchObject({ status: 'paid' });
    await page.goto(`${app.baseUrl}/ui/invoices/${second.invoice}`);
    expect(await submit('button[data-action="void"]')).toBe(200);
    expect(await api(`/v1/invoices/${second.invoice}`)).toMatchObject({ status: 'issued' });
    expect(await submit('button[data-action="confirm-void"]')).toBe(200);
    expect(await api(`/v1/invoices/${second.invoice}`)).toMatchObject({ status: 'void' });
  });

  it('makes an API key, shown once and working, and revokes it after confirming', async () => {
    await page.goto(`${app.baseUrl}/ui/api-keys`);
    await page.locator('form[data-form="api-key"] input[name="name"]').fill('partner portal');
    await page.locator('form[data-form="api-key"] select[name="scope"]').selectOption('read');
    expect(await submit('form[data-form="api-key"] button[type="submit"]')).toBe(200);
    const key = (await page.locator('input[data-new-key]').inputValue()) ?? '';
    expect(key).toMatch(/^crd_/);
    expect((await app.request('GET', '/v1/packages', { key })).status).toBe(200);
    await page.goto(`${app.baseUrl}/ui/api-keys`);
    expect(await page.locator('main').textContent()).not.toContain(key);
    const row = page.locator('tr', { hasText: 'partner portal' });
    await Promise.all([page.waitForURL(/\/revoke$/), row.locator('a[data-action="revoke"]').click()]);
    expect(await submit('button[data-action="confirm-revoke"]')).toBe(200);
    expect((await app.request('GET', '/v1/packages', { key })).status).toBe(401);
  });

  it('names each of those changes on the audit page, made from the pages', async () => {
    for (const action of [
      'PATCH /v1/credit-types/{id}',
      'PATCH /v1/packages/{id}',
      'PATCH /v1/clients/{id}',
      'POST /v1/api-keys',
      'POST /v1/api-keys/{id}/revoke',
      'POST /v1/balances/{id}/adjustments',
      'POST /v1/invoices/{id}/void',
    ]) {
      await page.goto(`${app.baseUrl}/ui/audit?origin=ui&action=${encodeURIComponent(action)}`);
      expect(await page.locator('main tbody').textContent(), action).toContain(action);
    }
    await shot('workflows-audit.png');
  });

  it('never answered a 500 on the way', () => {
    expect(serverErrors).toEqual([]);
  });
});
