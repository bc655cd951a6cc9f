import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { artifactPath, ensureChromium, launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';

/**
 * The pages at a phone's width (390×844), in English and Arabic: no page is wider than the screen, so
 * nothing scrolls sideways and, in Arabic, the start of a line (the right) is never cut off. A wide table
 * scrolls inside its own box; the charts and the forms shrink to the width. A QA walk measured 710px on
 * a client's page (the balances table), 514px on the clients list, 819px on the reports and 469px on the
 * overview (the consumption chart). Screenshots of each page go to test/artifacts/ (mobile-<lang>-*.png).
 */
const NOW = '2026-03-15T10:00:00.000Z';

let app: TestApp;
let browser: TestBrowser;
let page: Page;
let clientId = '';
let subscriptionId = '';
let consumptionId = '';
let invoiceId = '';

/** Two credit types on a package, a client with a long name and reference using them daily, a hold, a report run. */
async function seed(): Promise<void> {
  app.clock.set('2026-03-01T08:00:00.000Z');
  await createCreditType(app, { code: 'sms', name: 'SMS', unit: 'message' });
  await createCreditType(app, { code: 'support', name: 'Support', unit: 'hour', decimals: 1 });
  const pkg = await createPackage(
    app,
    [
      { credit_type: 'sms', units: 2000 },
      { credit_type: 'support', units: 50 },
    ],
    { code: 'starter', name: 'Starter', price: 45000, currency: 'SAR' },
  );
  const client = await createClient(app, {
    external_ref: 'crm-42',
    name: 'شركة النور للاتصالات وتقنية المعلومات المحدودة',
    email: 'accounts.department@alnoor-telecom.example',
  });
  clientId = client.id;
  const sold = await subscribe(app, client.id, pkg.code);
  subscriptionId = sold.id;
  invoiceId = sold.invoice.id;
  for (let day = 0; day < 14; day += 1) {
    app.clock.set(new Date(Date.parse('2026-03-01T12:00:00.000Z') + day * 86_400_000).toISOString());
    const res = await app.request('POST', '/v1/consumptions?wait=true', {
      key: app.keys.write,
      body: { client: client.id, credit_type: 'sms', quantity: 40 + day * 3, idempotency_key: `m-${day}` },
    });
    expect(res.status, res.text).toBe(200);
    consumptionId = (res.body as { id: string }).id;
  }
  app.clock.set(NOW);
  // an open hold: its row carries the Capture form and the Release button
  const hold = await app.request('POST', '/v1/holds?wait=true', {
    key: app.keys.write,
    body: {
      client: client.id,
      credit_type: 'support',
      quantity: '2.5',
      idempotency_key: 'ticket-20260315-escalation',
      reference: 'تذكرة دعم فني عاجلة',
    },
  });
  expect(hold.status, hold.text).toBe(200);
  const report = await app.request('POST', '/v1/reports', {
    body: { type: 'consumption', format: 'csv', params: { client: 'crm-42' } },
  });
  expect(report.status, report.text).toBe(202);
}

/** The innermost elements standing past either edge of the screen (what made the page wider), named for a failure. */
const outside = (): Promise<string[]> =>
  page.evaluate(`(() => {
    const past = [...document.querySelectorAll('body *')].filter((e) => {
      const r = e.getBoundingClientRect();
      return r.width > 0 && (r.right > window.innerWidth + 0.5 || r.left < -0.5);
    });
    // what a box of its own scrolls or clips does not widen the page (unless positioned outside it)
    const clipped = (e) => {
      for (let up = e.parentElement; up && up !== document.body; up = up.parentElement)
        if (getComputedStyle(up).overflowX !== 'visible') return true;
      return false;
    };
    return past
      .filter((e) => !clipped(e) && !past.some((other) => other !== e && e.contains(other) && !clipped(other)))
      .slice(0, 5)
      .map((e) => e.tagName.toLowerCase() + (e.className ? '.' + String(e.className).replaceAll(' ', '.') : ''));
  })()`);

beforeAll(async () => {
  ensureChromium();
  app = await startTestApp({ roles: ['api', 'worker'], now: NOW, env: { BUSINESS_TZ: 'Asia/Riyadh' } });
  await seed();
  browser = await launchBrowser();
  page = await browser.context.newPage();
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${app.baseUrl}/ui/login`);
  await page.getByLabel('Admin key').fill(app.keys.admin);
  await Promise.all([page.waitForURL(`${app.baseUrl}/ui`), page.click('button[type="submit"]')]);
}, 10 * 60_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
});

describe('the pages at a phone’s width (390px)', () => {
  const pages = () => [
    '/ui',
    '/ui/clients',
    `/ui/clients/${clientId}`,
    '/ui/reports',
    '/ui/packages',
    '/ui/packages/starter',
    '/ui/credit-types',
    '/ui/invoices',
    `/ui/invoices/${invoiceId}`,
    `/ui/subscriptions/${subscriptionId}`,
    `/ui/consumptions/${consumptionId}`,
    `/ui/clients/${clientId}/consume`,
    `/ui/clients/${clientId}/sell`,
    '/ui/api-keys',
    '/ui/audit',
    '/ui/webhooks',
  ];

  it.each([['en'], ['ar']])(
    'is never wider than the screen (%s)',
    async (lang) => {
      const wide: Record<string, { width: number; outside: string[] }> = {};
      for (const path of pages()) {
        const response = await page.goto(`${app.baseUrl}${path}?lang=${lang}`);
        expect(response?.status(), path).toBe(200);
        const { scrollWidth, innerWidth } = await page.evaluate<{ scrollWidth: number; innerWidth: number }>(
          '({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth })',
        );
        expect(innerWidth).toBe(390);
        if (scrollWidth > innerWidth) wide[path] = { width: scrollWidth, outside: await outside() };
        const name = path.replaceAll(/[0-9a-f]{8}-[0-9a-f-]{27}/g, 'id').replaceAll(/[^a-z]+/g, '-');
        await page.screenshot({ path: artifactPath(`mobile-${lang}${name}.png`), fullPage: true });
      }
      expect(wide).toEqual({});
    },
    180_000,
  );

  it.each([['en'], ['ar']])(
    'labels the charts readably: 11px or more on the screen, no two labels overlapping, none cut off (%s)',
    async (lang) => {
      // the overview's consumption charts (drawn 640 wide) and a package's requests (960): ~340px on this screen
      for (const path of ['/ui', '/ui/packages/starter']) {
        await page.goto(`${app.baseUrl}${path}?lang=${lang}`);
        const charts = await page.evaluate<
          Array<{
            shown: number;
            box: number[];
            labels: Array<{ text: string; axis: string; px: number; box: number[] }>;
          }>
        >(`[...document.querySelectorAll('figure.chart svg')].map((svg) => {
          const scale = svg.getScreenCTM().a;
          const labels = [...svg.querySelectorAll('text.tick')]
            .filter((text) => getComputedStyle(text).display !== 'none')
            .map((text) => {
              const r = text.getBoundingClientRect();
              return {
                text: text.textContent,
                axis: text.classList.contains('y') ? 'y' : 'x',
                px: parseFloat(getComputedStyle(text).fontSize) * scale,
                box: [r.left, r.top, r.right, r.bottom],
              };
            });
          const r = svg.getBoundingClientRect();
          return { shown: r.width, box: [r.left, r.top, r.right, r.bottom], labels };
        })`);
        expect(charts.length, path).toBeGreaterThan(0);
        for (const chart of charts) {
          expect(chart.shown, path).toBeLessThan(390);
          const x = chart.labels.filter((l) => l.axis === 'x');
          const y = chart.labels.filter((l) => l.axis === 'y');
          expect(x.length, path).toBeGreaterThanOrEqual(3);
          expect(y.length, path).toBeGreaterThanOrEqual(3);
          for (const label of chart.labels) {
            expect(label.px, `${path} ${label.text}`).toBeGreaterThanOrEqual(10.99);
            // inside its chart whole: an SVG cuts off what stands past its edges
            expect(label.box[0], `${path} ${label.text}`).toBeGreaterThanOrEqual(chart.box[0]! - 0.5);
            expect(label.box[2], `${path} ${label.text}`).toBeLessThanOrEqual(chart.box[2]! + 0.5);
            expect(label.box[1], `${path} ${label.text}`).toBeGreaterThanOrEqual(chart.box[1]! - 0.5);
            expect(label.box[3], `${path} ${label.text}`).toBeLessThanOrEqual(chart.box[3]! + 0.5);
          }
          // the days' labels side by side, apart; the numbers one above another, apart
          const apart = (a: number[], b: number[]) =>
            a[2]! <= b[0]! || b[2]! <= a[0]! || a[3]! <= b[1]! || b[3]! <= a[1]!;
          for (const group of [x, y])
            for (const [i, a] of group.entries())
              for (const b of group.slice(i + 1))
                expect(apart(a.box, b.box), `${path} ${a.text} / ${b.text}`).toBe(true);
        }
      }
      await page.screenshot({ path: artifactPath(`mobile-${lang}-package-chart.png`), fullPage: true });
    },
  );

  it('scrolls a wide table inside its own box, the page itself staying put (ar)', async () => {
    await page.goto(`${app.baseUrl}/ui/clients/${clientId}?lang=ar`);
    const boxes = await page.evaluate<Array<{ scrolls: boolean; fits: boolean }>>(
      `[...document.querySelectorAll('main table')].map((table) => ({
        scrolls: getComputedStyle(table.parentElement).overflowX === 'auto',
        fits: table.getBoundingClientRect().width <= table.parentElement.getBoundingClientRect().width + 0.5,
      }))`,
    );
    expect(boxes.length).toBeGreaterThan(0);
    // every table either fits its box or scrolls inside it
    expect(boxes.filter((b) => !b.fits && !b.scrolls)).toEqual([]);
    // the start of the balances' heading (the right, in Arabic) is on the screen
    const heading = (await page.getByRole('heading', { name: 'الأرصدة', exact: true }).boundingBox())!;
    expect(heading.x + heading.width).toBeLessThanOrEqual(390);
    expect(heading.x).toBeGreaterThanOrEqual(0);
  });

  it.each([['en'], ['ar']])(
    'keeps an invoice number on one line, and the header’s name off the top edge of the screen (%s)',
    async (lang) => {
      // a QA look at 390px: "INV-2026-" over "000001", and the header's name touching the top of the screen
      await page.goto(`${app.baseUrl}/ui/invoices?lang=${lang}`);
      const numbers = await page.evaluate<Array<{ text: string; lines: number }>>(
        `[...document.querySelectorAll('main td code')]
          .map((c) => ({ text: c.textContent, lines: c.getClientRects().length }))`,
      );
      expect(numbers.length).toBeGreaterThan(0);
      expect(numbers.filter((n) => n.lines !== 1)).toEqual([]);
      const brand = (await page.locator('header.top .brand').boundingBox())!;
      expect(brand.y).toBeGreaterThanOrEqual(6);
    },
  );

  it('asks before cancelling now, on a page that fits the screen; going back changes nothing (ar)', async () => {
    await page.goto(`${app.baseUrl}/ui/subscriptions/${subscriptionId}?lang=ar`);
    await page.locator('form[data-form="cancel"] select[name="at"]').selectOption('now');
    await Promise.all([page.waitForNavigation(), page.click('button[data-action="cancel"]')]);
    expect(await page.locator('h1').textContent()).toBe('إلغاء هذا الاشتراك الآن؟');
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await page.screenshot({ path: artifactPath('mobile-ar-confirm-cancel.png'), fullPage: true });
    await Promise.all([page.waitForNavigation(), page.click('a[data-action="back"]')]);
    expect(new URL(page.url()).pathname).toBe(`/ui/subscriptions/${subscriptionId}`);
    expect((await app.request('GET', `/v1/subscriptions/${subscriptionId}`)).body.status).toBe('active');
  });

  it('asks before capturing part of a hold, on a page that fits; going back changes nothing (ar)', async () => {
    await page.goto(`${app.baseUrl}/ui/clients/${clientId}?lang=ar`);
    await page.fill('form.capture input[name="quantity"]', '١٫٥');
    await Promise.all([page.waitForNavigation(), page.click('button[data-action="capture"]')]);
    expect(await page.locator('h1').textContent()).toBe('تحصيل هذا الحجز؟');
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await page.screenshot({ path: artifactPath('mobile-ar-confirm-capture.png'), fullPage: true });
    await Promise.all([page.waitForNavigation(), page.click('a[data-action="back"]')]);
    expect(new URL(page.url()).pathname).toBe(`/ui/clients/${clientId}`);
    const held = await app.request('GET', `/v1/holds?client=${clientId}&status=held`);
    expect(held.body.data).toMatchObject([{ held: '2.5' }]);
  });
});
