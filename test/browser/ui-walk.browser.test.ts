import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { ensureChromium, launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';

/**
 * Whole numbers typed with Arabic-Indic digits in Chromium (README: "Values typed in a form may use
 * Arabic-Indic digits"): a control of type "number" drops them as the person types, so the form would
 * send nothing (or the default) in their place. Each is typed key by key, as a keyboard does.
 */
const NOW = '2026-03-15T10:00:00.000Z';

let app: TestApp;
let browser: TestBrowser;
let page: Page;

async function typeInto(selector: string, text: string): Promise<void> {
  await page.fill(selector, '');
  await page.focus(selector);
  await page.keyboard.type(text);
}

beforeAll(async () => {
  ensureChromium();
  app = await startTestApp({ roles: ['api', 'worker'], now: NOW });
  browser = await launchBrowser();
  page = await browser.context.newPage();
  await page.goto(`${app.baseUrl}/ui/login?lang=ar`);
  await page.fill('input[name="key"]', app.keys.admin);
  await Promise.all([page.waitForURL(`${app.baseUrl}/ui`), page.click('button[type="submit"]')]);
}, 15 * 60_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
});

describe('Arabic-Indic digits in whole-number fields', () => {
  it('creates a credit type with the decimals typed as ٢', async () => {
    await page.goto(`${app.baseUrl}/ui/credit-types?lang=ar`);
    await page.fill('#f-code', 'w-hours');
    await page.fill('#f-name', 'ساعات الدعم');
    await page.fill('#f-unit', 'ساعة');
    await typeInto('#f-decimals', '٢');
    await expect(page.inputValue('#f-decimals')).resolves.toBe('٢');
    await Promise.all([
      page.waitForURL(/notice=credit_type_created/),
      page.click('form[action="/ui/credit-types"] button[type="submit"]'),
    ]);
    const created = await app.request('GET', '/v1/credit-types/w-hours', { key: app.keys.read });
    expect(created.body.decimals).toBe(2);
  });

  it('freezes a subscription for the days typed as ٥ on the client page', async () => {
    const sms = await createCreditType(app, { code: 'w-sms', unit: 'message' });
    const pack = await createPackage(app, [{ credit_type: sms.code, units: 10 }], { max_freeze_days: 10 });
    const client = await createClient(app, { external_ref: 'w-freeze' });
    const sub = await subscribe(app, client.id, pack.id);
    await page.goto(`${app.baseUrl}/ui/clients/${client.id}?lang=ar`);
    await typeInto(`form[action="/ui/subscriptions/${sub.id}/freeze"] input[name="days"]`, '٥');
    await Promise.all([page.waitForURL(/notice=frozen/), page.click(`button[data-action="freeze"]`)]);
    const frozen = await app.request('GET', `/v1/subscriptions/${sub.id}`, { key: app.keys.read });
    expect(frozen.body.frozen_until).toBe('2026-03-20T10:00:00.000Z');
  });

  it('runs the expiring report for the days ahead typed as ١٤', async () => {
    await page.goto(`${app.baseUrl}/ui/reports?lang=ar`);
    await page.selectOption('select[name="type"]', 'expiring');
    await typeInto('input[name="days_ahead"]', '١٤');
    await Promise.all([page.waitForURL(/notice=report_queued/), page.click('form[action="/ui/reports"] button')]);
    const runs = await app.request('GET', '/v1/reports', { key: app.keys.read });
    expect(runs.body.data[0]).toMatchObject({ type: 'expiring', params: { days_ahead: 14 } });
  });
});
