import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { artifactPath, ensureChromium, launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';

/**
 * The pages' accessibility pass (issue 18) in Chromium: signed in through the form, each existing
 * page in English and in Arabic, and each page that asks before what cannot be undone, is checked by
 * axe-core (labels, contrast, names, landmarks, focus order) and may have no violation of serious or
 * critical impact. The Arabic pages must also really
 * be mirrored: the header starts on the right, time runs right to left in the charts, and the meters
 * fill from the right. Screenshots of the Arabic overview and client page go to test/artifacts/.
 */
const NOW = '2026-03-15T10:00:00.000Z';
const ARABIC_CLIENT = 'شركة النور للاتصالات';
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

let app: TestApp;
let browser: TestBrowser;
let page: Page;
let clientId = '';
let subscriptionId = '';
let invoiceId = '';
let consumptionId = '';

interface Violation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: string[]; failureSummary?: string }>;
}

/** A small business's fortnight: two credit types, SAR and KWD packages, daily use, a grant and a hold. */
async function seed(): Promise<void> {
  app.clock.set('2026-03-01T08:00:00.000Z');
  const sms = await createCreditType(app, { code: 'sms', name: 'SMS', unit: 'message' });
  const voice = await createCreditType(app, { code: 'voice', name: 'Voice', unit: 'minute', decimals: 1 });
  const corporate = await createPackage(
    app,
    [
      { credit_type: sms.code, units: 3000 },
      { credit_type: voice.code, units: 300 },
    ],
    { code: 'corporate', name: 'باقة الشركات', price: 45000, currency: 'SAR' },
  );
  const gold = await createPackage(app, [{ credit_type: sms.code, units: 500 }], {
    code: 'kw-gold',
    name: 'Kuwait Gold',
    price: 12500,
    currency: 'KWD',
  });
  const alnoor = await createClient(app, { external_ref: 'alnoor', name: ARABIC_CLIENT, email: 'info@alnoor.example' });
  clientId = alnoor.id;
  const acme = await createClient(app, { external_ref: 'acme', name: 'Acme Logistics' });
  const sold = await subscribe(app, alnoor.id, corporate.code);
  subscriptionId = sold.id;
  invoiceId = sold.invoice.id;
  await subscribe(app, acme.id, gold.code);
  for (let day = 0; day < 14; day += 1) {
    app.clock.set(new Date(Date.parse('2026-03-01T12:00:00.000Z') + day * 86_400_000).toISOString());
    for (const [client, creditType, quantity, key] of [
      [alnoor.id, 'sms', 80 + ((day * 37) % 90), `nour-${day}`],
      [alnoor.id, 'voice', `${5 + ((day * 7) % 11)}.5`, `nour-voice-${day}`],
      [acme.id, 'sms', 20 + ((day * 13) % 15), `acme-${day}`],
    ] as const) {
      const res = await app.request('POST', '/v1/consumptions?wait=true', {
        key: app.keys.write,
        body: { client, credit_type: creditType, quantity, idempotency_key: key },
      });
      expect(res.status, res.text).toBe(200);
      if (client === alnoor.id) consumptionId = (res.body as { id: string }).id;
    }
  }
  const grant = await app.request('POST', '/v1/clients/alnoor/grants', {
    headers: { 'Idempotency-Key': 'goodwill-1' },
    body: { credit_type: 'sms', units: 100, expires_at: '2026-04-01T00:00:00Z', reason: 'تعويض عن انقطاع الخدمة' },
  });
  expect(grant.status, grant.text).toBe(201);
  const hold = await app.request('POST', '/v1/holds?wait=true', {
    key: app.keys.write,
    // open until a day later, past NOW: the client page, which closes a hold past its expiry first, shows it open
    body: {
      client: 'alnoor',
      credit_type: 'voice',
      quantity: 12,
      idempotency_key: 'call-7',
      reference: 'مكالمة',
      expires_in_seconds: 86_400,
    },
  });
  expect(hold.status, hold.text).toBe(200);
  app.clock.set(NOW);
  const report = await app.request('POST', '/v1/reports', {
    body: { type: 'consumption', format: 'csv', params: { client: 'alnoor' } },
  });
  expect(report.status, report.text).toBe(202);
  await app.request('POST', '/v1/webhook-endpoints', { body: { url: 'https://hooks.example/credits', events: ['*'] } });
}

/** axe-core's findings on the page as it stands (injected through the DevTools protocol: the CSP refuses inline). */
async function axeViolations(): Promise<Violation[]> {
  await page.evaluate(axeSource);
  const results = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(options: unknown): Promise<{ violations: unknown[] }> } }).axe;
    return axe.run({ resultTypes: ['violations'] });
  });
  return results.violations as Violation[];
}

const serious = (violations: Violation[]) =>
  violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({
      rule: v.id,
      impact: v.impact,
      help: v.help,
      where: v.nodes.slice(0, 3).map((n) => `${n.target.join(' ')} — ${n.failureSummary ?? ''}`),
    }));

beforeAll(async () => {
  ensureChromium();
  app = await startTestApp({ roles: ['api', 'worker'], now: NOW, env: { BUSINESS_TZ: 'Asia/Riyadh' } });
  await seed();
  browser = await launchBrowser();
  page = await browser.context.newPage();
}, 10 * 60_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
});

describe('the pages’ accessibility, in English and Arabic', () => {
  it('has an accessible login form in both languages, and signs in through it in Arabic', async () => {
    await page.goto(`${app.baseUrl}/ui/login`);
    expect(serious(await axeViolations())).toEqual([]);
    // the pass can fail: an input without a label is found
    await page.evaluate("document.querySelector('form').insertAdjacentHTML('beforeend', '<input name=x>')");
    expect(serious(await axeViolations()).map((v) => v.rule)).toContain('label');
    await page.reload();
    await Promise.all([page.waitForURL(/lang=ar/), page.click('[data-lang-switch="ar"]')]);
    expect(await page.getAttribute('html', 'dir')).toBe('rtl');
    expect(serious(await axeViolations())).toEqual([]);
    await page.getByLabel('مفتاح المدير').fill(app.keys.admin);
    await Promise.all([page.waitForURL(`${app.baseUrl}/ui`), page.click('button[type="submit"]')]);
    expect(await page.getAttribute('html', 'lang')).toBe('ar');
  });

  const pages = () => [
    '/ui',
    '/ui/clients',
    `/ui/clients/${clientId}`,
    `/ui/clients/${clientId}?notice=freeze_failed&code=conflict`,
    '/ui/packages',
    '/ui/packages/corporate',
    '/ui/reports',
    '/ui/webhooks',
    // the back office's forms and the pages of the other parts, which share the frame and the stylesheet
    '/ui/credit-types',
    '/ui/packages/new',
    '/ui/clients/new',
    `/ui/clients/${clientId}/sell`,
    `/ui/clients/${clientId}/consume`,
    '/ui/invoices',
    '/ui/api-keys',
    '/ui/audit',
  ];

  it.each([['en'], ['ar']])(
    'finds no serious or critical violation on any page (%s)',
    async (lang) => {
      const found: Record<string, unknown> = {};
      for (const path of pages()) {
        const response = await page.goto(`${app.baseUrl}${path}${path.includes('?') ? '&' : '?'}lang=${lang}`);
        expect(response?.status(), path).toBe(200);
        expect(new URL(page.url()).pathname, path).toBe(path.split('?')[0]); // signed in: no detour to the login
        expect(await page.getAttribute('html', 'lang'), path).toBe(lang);
        // every choice of a select in its own text's direction, as Chromium parsed the page (src/ui/options.ts)
        expect(await page.locator('option:not([dir="auto"])').count(), path).toBe(0);
        const problems = serious(await axeViolations());
        if (problems.length > 0) found[path] = problems;
      }
      expect(found).toEqual({});
      // sixteen pages, each loaded and checked by axe: ~15 s alone, several times that beside the whole suite
    },
    180_000,
  );

  /**
   * The pages that ask before what cannot be undone: reached only by a form's POST, so each is opened from its
   * detail page by its button (nothing is done until the confirmation's own button is pressed).
   */
  const confirmations = (): Array<{ from: string; fill?: [string, string]; button: string; confirm: string }> => [
    {
      from: `/ui/clients/${clientId}`,
      fill: ['form.capture input[name="quantity"]', '5'],
      button: 'capture',
      confirm: 'confirm-capture',
    },
    { from: `/ui/clients/${clientId}`, button: 'release', confirm: 'confirm-release' },
    { from: `/ui/clients/${clientId}`, button: 'renew', confirm: 'confirm-renew' },
    { from: `/ui/clients/${clientId}`, button: 'recharge', confirm: 'confirm-recharge' },
    { from: `/ui/consumptions/${consumptionId}`, button: 'reverse', confirm: 'confirm-reverse' },
    { from: `/ui/invoices/${invoiceId}`, button: 'void', confirm: 'confirm-void' },
    { from: `/ui/subscriptions/${subscriptionId}`, button: 'cancel', confirm: 'confirm-cancel' },
  ];

  it.each([['en'], ['ar']])(
    'finds no serious or critical violation on the confirmation pages (%s)',
    async (lang) => {
      const found: Record<string, unknown> = {};
      for (const { from, fill, button, confirm } of confirmations()) {
        await page.goto(`${app.baseUrl}${from}?lang=${lang}`);
        if (fill) await page.fill(fill[0], fill[1]);
        const [response] = await Promise.all([
          page.waitForNavigation(),
          page.locator(`main button[data-action="${button}"]`).first().click(),
        ]);
        expect(response?.status(), confirm).toBe(200);
        expect(await page.locator(`[data-confirm="${confirm}"]`).count(), confirm).toBe(1);
        expect(await page.getAttribute('html', 'lang'), confirm).toBe(lang);
        const problems = serious(await axeViolations());
        if (problems.length > 0) found[confirm] = problems;
      }
      expect(found).toEqual({});
      // only asked: the hold is still open, the subscription active and not renewed, the invoice issued
      const hold = await app.request('GET', '/v1/holds?client=alnoor&status=held', { key: app.keys.read });
      expect(hold.body.data).toHaveLength(1);
      const subscription = await app.request('GET', `/v1/subscriptions/${subscriptionId}`, { key: app.keys.read });
      expect(subscription.body).toMatchObject({ status: 'active', renewal_count: 0, cancel_at_period_end: false });
      const invoice = await app.request('GET', `/v1/invoices/${invoiceId}`, { key: app.keys.read });
      expect(invoice.body.status).toBe('issued');
    },
    120_000,
  );

  it('lets the keyboard skip to the content, else go through the header in reading order', async () => {
    await page.goto(`${app.baseUrl}/ui?lang=ar`);
    await page.keyboard.press('Tab');
    expect(await page.locator(':focus').getAttribute('class')).toBe('skip-link');
    await expect(page.locator('.skip-link').isVisible()).resolves.toBe(true);
    const order: string[] = [];
    const xs: number[] = [];
    for (let i = 0; i < 8; i += 1) {
      await page.keyboard.press('Tab');
      const focused = page.locator(':focus');
      xs.push((await focused.boundingBox())?.x ?? Number.NaN);
      order.push(
        (await focused.getAttribute('data-lang-switch')) ??
          (await focused.getAttribute('data-calendar-switch')) ??
          (await focused.getAttribute('href')) ??
          (await focused.textContent()) ??
          '',
      );
    }
    // the bar first (name, language, calendar, account), then the sections' tabs
    expect(order).toEqual(['/ui', 'en', 'ar', 'gregory', 'hijri', 'تسجيل الخروج', '/ui', '/ui/clients']);
    // on the bar, each stop stands left of the one before it: Arabic reads right to left
    const bar = xs.slice(0, 6);
    expect(bar).toEqual([...bar].sort((p, q) => q - p));
    await Promise.all([page.waitForURL(`${app.baseUrl}/ui/clients`), page.keyboard.press('Enter')]);
  });

  it('mirrors the Arabic overview: header from the right, time right to left, meters from the right', async () => {
    await page.goto(`${app.baseUrl}/ui?lang=ar`);
    const brand = (await page.locator('header .brand').boundingBox())!;
    const nav = (await page.locator('header nav').boundingBox())!;
    expect(brand.x).toBeGreaterThan(nav.x); // the brand stands at the start: the right
    const bars = page.locator('figure.chart').first().locator('rect.bar');
    expect(await bars.count()).toBe(30);
    const oldest = (await bars.first().boundingBox())!;
    const newest = (await bars.last().boundingBox())!;
    expect(oldest.x).toBeGreaterThan(newest.x);
    // the y axis's labels on the right of the plot, in Arabic-Indic digits
    const zero = page.locator('figure.chart').first().locator('text.tick', { hasText: /^٠$/ });
    expect((await zero.boundingBox())!.x).toBeGreaterThan(newest.x);
    // a meter's filled part starts at its right edge
    const meter = page.locator('svg.meter').first();
    const box = (await meter.boundingBox())!;
    const fill = (await meter.locator('rect.meter-fg').boundingBox())!;
    expect(Math.abs(fill.x + fill.width - (box.x + box.width))).toBeLessThan(1.5);
    await page.screenshot({ path: artifactPath('ui-ar-overview.png'), fullPage: true });

    await page.goto(`${app.baseUrl}/ui?lang=en`);
    const enOldest = (await page.locator('figure.chart').first().locator('rect.bar').first().boundingBox())!;
    const enNewest = (await page.locator('figure.chart').first().locator('rect.bar').last().boundingBox())!;
    expect(enOldest.x).toBeLessThan(enNewest.x);
  });

  it('shows the Arabic client page mirrored, with the Hijri date beside the Gregorian one', async () => {
    await page.goto(`${app.baseUrl}/ui/clients/${clientId}?lang=ar&calendar=hijri`);
    expect(await page.locator('h1').textContent()).toBe(ARABIC_CLIENT);
    // the name starts on the right, where the panels end, and so does a reason in the statement
    const name = (await page.locator('h1 bdi').boundingBox())!;
    const panel = (await page.locator('section.panel').first().boundingBox())!;
    expect(name.x + name.width).toBeGreaterThan(panel.x + panel.width - 2);
    expect(name.x).toBeGreaterThan(panel.x + panel.width / 2);
    const reason = (await page.getByText('تعويض عن انقطاع الخدمة').boundingBox())!;
    const reasonCell = (await page.locator('td', { hasText: 'تعويض عن انقطاع الخدمة' }).boundingBox())!;
    expect(reason.x + reason.width).toBeGreaterThan(reasonCell.x + reasonCell.width - 14);
    expect(await page.locator('.hijri').first().textContent()).toMatch(/١٤٤٧ هـ/);
    expect(await page.locator('td.num').first().textContent()).toMatch(/[٠-٩]/);
    await page.screenshot({ path: artifactPath('ui-ar-client.png'), fullPage: true });
    await page.goto(`${app.baseUrl}/ui/clients/${clientId}?lang=ar&calendar=gregory`);
  });
});
