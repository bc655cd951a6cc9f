import { readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { artifactPath, ensureChromium, launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';

/**
 * The display windows in a real browser (Debian chromium driven by playwright-core): sign in with
 * the admin key, open every page, renew a subscription with the button, run a report and download
 * its CSV. Screenshots go to test/artifacts/ for a person to look at.
 */
const NOW = '2026-03-15T10:00:00.000Z';
const ARABIC_CLIENT = 'شركة النور للاتصالات';

let app: TestApp;
let browser: TestBrowser;
let page: Page;
let arabicSubscription: { id: string; current_period_end: string };

/** A few weeks of a small business, lived through with the clock: each thing happens on its own day. */
async function seed(): Promise<void> {
  const at = (iso: string) => app.clock.set(iso);
  at('2026-02-20T08:00:00.000Z');
  const sms = await createCreditType(app, { code: 'sms', name: 'SMS', unit: 'message' });
  const voice = await createCreditType(app, { code: 'voice', name: 'Voice', unit: 'minute', decimals: 1 });
  const starter = await createPackage(app, [{ credit_type: sms.code, units: 1000 }], {
    code: 'starter-sms',
    name: 'Starter SMS',
    price: 1500,
  });
  const business = await createPackage(
    app,
    [
      { credit_type: voice.code, units: 500 },
      { credit_type: sms.code, units: 200 },
    ],
    { code: 'business-voice', name: 'Business Voice', price: 4900 },
  );
  const corporate = await createPackage(app, [{ credit_type: sms.code, units: 5000 }], {
    code: 'corporate',
    name: 'باقة الشركات',
    price: 12000,
    currency: 'SAR',
  });
  const alnoor = await createClient(app, { external_ref: 'alnoor', name: ARABIC_CLIENT, email: 'info@alnoor.example' });
  const acme = await createClient(app, { external_ref: 'acme', name: 'Acme Logistics' });
  const harbor = await createClient(app, { external_ref: 'harbor', name: 'Blue Harbor Café' });
  const yasmin = await createClient(app, { external_ref: 'yasmin', name: 'مطعم الياسمين' });

  const consume = async (client: string, creditType: string, quantity: number | string, key: string) => {
    const res = await app.request('POST', '/v1/consumptions?wait=true', {
      key: app.keys.write,
      body: { client, credit_type: creditType, quantity, idempotency_key: key },
    });
    expect(res.status, res.text).toBe(200);
    return res.body as { id: string };
  };
  let acmeSms = '';
  let harborSms = '';
  for (let day = 0; day < 23; day += 1) {
    const date = new Date(Date.parse('2026-02-20T00:00:00.000Z') + day * 86_400_000).toISOString().slice(0, 10);
    at(`${date}T09:00:00.000Z`);
    if (date === '2026-02-20') {
      arabicSubscription = await subscribe(app, alnoor.id, corporate.code);
      acmeSms = (await subscribe(app, acme.id, starter.code)).id;
    }
    if (date === '2026-03-01') await subscribe(app, acme.id, business.code);
    if (date === '2026-03-02') harborSms = (await subscribe(app, harbor.id, starter.code)).id;
    if (date === '2026-03-05') await subscribe(app, yasmin.id, business.code);
    if (date === '2026-03-10') {
      // renewed early, through the API: the packages have both kinds of request
      const renewed = await app.request('POST', `/v1/subscriptions/${harborSms}/renew?wait=true`, {
        key: app.keys.write,
      });
      expect(renewed.status, renewed.text).toBe(200);
    }
    at(`${date}T12:00:00.000Z`);
    await consume(alnoor.id, sms.code, 60 + ((day * 37) % 90), `nour-${day}`);
    await consume(acme.id, sms.code, 20 + ((day * 13) % 25), `acme-${day}`);
    if (date >= '2026-03-01') await consume(acme.id, voice.code, `${10 + ((day * 7) % 15)}.5`, `acme-voice-${day}`);
    if (date >= '2026-03-02') await consume(harbor.id, sms.code, 5 + ((day * 11) % 20), `harbor-${day}`);
    if (date === '2026-03-14') {
      at(`${date}T15:00:00.000Z`);
      const mistake = await consume(alnoor.id, sms.code, 25, 'nour-mistake');
      at(`${date}T15:30:00.000Z`);
      const reversed = await app.request('POST', `/v1/consumptions/${mistake.id}/reverse?wait=true`, {
        key: app.keys.write,
        body: { reason: 'sent twice' },
      });
      expect(reversed.status, reversed.text).toBe(200);
    }
  }
  // Acme's SMS almost used up: "nearly consumed" on the overview
  at('2026-03-15T09:30:00.000Z');
  const left = Number(
    (await app.request('GET', `/v1/subscriptions/${acmeSms}`, { key: app.keys.read })).body.balances[0].remaining,
  );
  await consume(acme.id, sms.code, left - 40, 'acme-big');
  at(NOW);
}

const shot = (name: string) => page.screenshot({ path: artifactPath(name), fullPage: true });

beforeAll(async () => {
  ensureChromium();
  app = await startTestApp({ roles: ['api', 'worker'], now: NOW });
  await seed();
  browser = await launchBrowser();
  page = await browser.context.newPage();
}, 15 * 60_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
});

describe('the display windows in a browser', () => {
  it('sends a visitor to the login form, and signs in with the admin key', async () => {
    const response = await page.goto(`${app.baseUrl}/ui/packages`);
    expect(page.url()).toBe(`${app.baseUrl}/ui/login?next=%2Fui%2Fpackages`);
    expect(response?.headers()['content-security-policy']).toContain("default-src 'self'");
    await shot('ui-login.png');
    await page.fill('input[name="key"]', 'crd_not-a-real-key-000000000000000000');
    await page.click('button[type="submit"]');
    await page.locator('.notice.error').waitFor();
    expect(await page.locator('.notice.error').textContent()).toContain('not valid');
    await page.fill('input[name="key"]', app.keys.admin);
    await Promise.all([page.waitForURL(`${app.baseUrl}/ui/packages`), page.click('button[type="submit"]')]);
    const cookies = await browser.context.cookies(`${app.baseUrl}/ui`);
    const session = cookies.find((c) => c.name === 'credits_ui');
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/ui' });
    expect(session!.expires).toBeGreaterThan(Date.now() / 1000);
  });

  it(
    'shows the overview: statuses, a consumption chart per ' +
      'credit type, top packages, nearly consumed, expiring soon',
    async () => {
      await page.goto(`${app.baseUrl}/ui`);
      await expect(page.title()).resolves.toContain('Overview');
      const html = await page.content();
      expect(await page.locator('figure.chart svg rect.bar').count()).toBe(60); // 30 days × 2 credit types
      expect(html).toContain(ARABIC_CLIENT);
      expect(await page.locator('#nearly-h + div table tbody tr').count()).toBeGreaterThan(0);
      expect(await page.locator('section[aria-labelledby="expiring-h"] tbody tr').count()).toBeGreaterThan(0);
      expect(await page.locator('section[aria-labelledby="top-h"] tbody tr').count()).toBe(3);
      await shot('ui-overview.png');
    },
  );

  it('lists clients and packages, Arabic names included', async () => {
    await page.goto(`${app.baseUrl}/ui/clients`);
    await expect(page.getByText(ARABIC_CLIENT).count()).resolves.toBe(1);
    await shot('ui-clients.png');
    await page.goto(`${app.baseUrl}/ui/packages`);
    expect(await page.locator('tbody tr').count()).toBe(3);
    await shot('ui-packages.png');
    await page.click('text=Business Voice');
    await page.waitForURL(/\/ui\/packages\/[0-9a-f-]{36}$/);
    expect(await page.locator('figure.chart svg rect.bar').count()).toBe(30);
    await shot('ui-package.png');
  });

  it('renews a subscription from the client page', async () => {
    await page.goto(`${app.baseUrl}/ui/clients`);
    await Promise.all([page.waitForURL(/\/ui\/clients\/[0-9a-f-]{36}$/), page.getByText(ARABIC_CLIENT).click()]);
    expect(await page.locator('.meter').count()).toBeGreaterThan(0);
    await shot('ui-client.png');
    await Promise.all([
      page.waitForNavigation(),
      page.click(`button[data-action="renew"][data-subscription="${arabicSubscription.id}"]`),
    ]);
    // a renewal issues an invoice: the page asks first
    await Promise.all([page.waitForURL(/notice=/), page.click('button[data-action="confirm-renew"]')]);
    expect(page.url()).toContain('notice=renewed');
    await expect(page.locator('.notice').textContent()).resolves.toContain('renewed');
    const view = await app.request('GET', `/v1/subscriptions/${arabicSubscription.id}`, { key: app.keys.read });
    expect(view.body).toMatchObject({ renewal_count: 1, current_period_start: arabicSubscription.current_period_end });
    await shot('ui-client-renewed.png');
  });

  it('runs a report and downloads its CSV', async () => {
    await page.goto(`${app.baseUrl}/ui/reports`);
    await page.selectOption('select[name="type"]', 'consumption');
    await page.selectOption('select[name="format"]', 'csv');
    await page.fill('input[name="from"]', '2026-02-20');
    await Promise.all([
      page.waitForURL(/notice=report_queued/),
      page.click('form[action="/ui/reports"] button[type="submit"]'),
    ]);
    // the page reloads itself while a run is in progress; the link appears once it is done
    const link = page.locator('a.download').first();
    await link.waitFor({ timeout: 20_000 });
    const [file] = await Promise.all([page.waitForEvent('download'), link.click()]);
    // named for the days it covers: from the day typed to today
    expect(file.suggestedFilename()).toBe('consumption-2026-02-20_2026-03-15.csv');
    const text = readFileSync(await file.path(), 'utf8');
    // the file as saved starts with the UTF-8 byte order mark (for Excel), then the header
    expect(text.split('\r\n')[0]).toBe('\uFEFFperiod_start,credit_type,unit,consumed,reversed,net');
    expect(text.split('\r\n').length).toBeGreaterThan(20);
    await shot('ui-reports.png');
  });

  it('shows a price in Arabic as it reads: the number, then "US$" spelt left to right (not "$US")', async () => {
    await page.goto(`${app.baseUrl}/ui/packages?lang=ar`);
    // where the browser put each character of the price of Starter SMS (USD 15.00), from the left of the screen
    const placed = await page.evaluate<Array<{ char: string; x: number }>>(`(() => {
      const row = [...document.querySelectorAll('tbody tr')].find((tr) => tr.textContent.includes('starter-sms'));
      const cell = row.querySelector('td.num');
      const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
      const placed = [];
      for (let node = walker.nextNode(); node; node = walker.nextNode())
        for (let i = 0; i < node.data.length; i += 1) {
          const range = document.createRange();
          range.setStart(node, i);
          range.setEnd(node, i + 1);
          const box = range.getBoundingClientRect();
          if (box.width > 0 && node.data[i].trim() !== '') placed.push({ char: node.data[i], x: box.left });
        }
      return placed;
    })()`);
    const x = (char: string) => placed.find((p) => p.char === char)?.x ?? Number.NaN;
    expect(placed.map((p) => p.char).join('')).toContain('US$');
    // "US$" left to right, as it is spelt
    expect(x('U')).toBeLessThan(x('S'));
    expect(x('S')).toBeLessThan(x('$'));
    // read from the right: the amount first, then its currency
    expect(x('١')).toBeGreaterThan(x('$'));
    await shot('ui-packages-ar.png');
    await page.goto(`${app.baseUrl}/ui/packages?lang=en`);
  });

  it('signs out', async () => {
    await page.goto(`${app.baseUrl}/ui`);
    await Promise.all([page.waitForURL(/\/ui\/login/), page.click('header form button')]);
    await page.goto(`${app.baseUrl}/ui`);
    expect(page.url()).toContain('/ui/login');
  });
});
