import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { ensureChromium, launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';

/**
 * What a visual QA of the back office found in its layout, in English and Arabic, at a desktop's width (1280) and a
 * phone's (390), measured: the overview chart's day labels crowding each other in Arabic (Arabic-Indic digits and
 * month names are wider), a long credit type cut at its start in the consumption form's select (right to left), and
 * nothing showing on a phone that a wide table scrolls.
 */
const NOW = '2026-03-15T10:00:00.000Z';
/** A second "now" whose 30 days end in August: the widest Arabic month name ("أغسطس") under the latest bars. */
const LATE_SUMMER = '2026-08-28T10:00:00.000Z';
const WIDTHS = [1280, 390] as const;

let app: TestApp;
let browser: TestBrowser;
let page: Page;
let clientId = '';

/** Two credit types (two charts side by side on a desktop), used on days of both windows; a long-named third. */
async function seed(): Promise<void> {
  app.clock.set('2026-02-01T08:00:00.000Z');
  await createCreditType(app, { code: 'sms', name: 'SMS', unit: 'message' });
  await createCreditType(app, { code: 'voice', name: 'دقائق الاتصال', unit: 'minute', decimals: 1 });
  await createCreditType(app, {
    code: 'sms-intl',
    name: 'International SMS messages to Gulf operators',
    unit: 'message',
  });
  const pkg = await createPackage(
    app,
    [
      { credit_type: 'sms', units: 100_000 },
      { credit_type: 'voice', units: 10_000 },
      { credit_type: 'sms-intl', units: 1000 },
    ],
    { code: 'year', name: 'Yearly', validity: { count: 1, unit: 'year' } },
  );
  const client = await createClient(app, {
    external_ref: 'alnoor',
    name: 'شركة النور للاتصالات وتقنية المعلومات المحدودة',
  });
  clientId = client.id;
  await subscribe(app, client.id, pkg.code);
  let key = 0;
  for (const at of ['2026-03-01', '2026-03-10', '2026-03-14', '2026-08-10', '2026-08-20', '2026-08-27']) {
    app.clock.set(`${at}T12:00:00.000Z`);
    for (const creditType of ['sms', 'voice']) {
      key += 1;
      const res = await app.request('POST', '/v1/consumptions?wait=true', {
        key: app.keys.write,
        body: { client: client.id, credit_type: creditType, quantity: 5 + key, idempotency_key: `use-${key}` },
      });
      expect(res.status, res.text).toBe(200);
    }
  }
  app.clock.set(NOW);
}

beforeAll(async () => {
  ensureChromium();
  app = await startTestApp({ roles: ['api', 'worker'], now: NOW, env: { BUSINESS_TZ: 'Asia/Riyadh' } });
  await seed();
  browser = await launchBrowser();
  page = await browser.context.newPage();
  await signIn();
}, 10 * 60_000);

/** Signs in (again: a session lasts hours, and a test moves the clock by months). */
async function signIn(): Promise<void> {
  await browser.context.clearCookies();
  await page.goto(`${app.baseUrl}/ui/login`);
  await page.getByLabel('Admin key').fill(app.keys.admin);
  await Promise.all([page.waitForURL(`${app.baseUrl}/ui`), page.click('button[type="submit"]')]);
}

afterAll(async () => {
  await browser?.close();
  await app?.close();
});

describe('the overview chart’s day labels', () => {
  it.each([
    ['en', NOW],
    ['ar', NOW],
    ['en', LATE_SUMMER],
    ['ar', LATE_SUMMER],
  ])('stand apart, never touching, at a desktop’s and a phone’s width (%s, %s)', async (lang, now) => {
    app.clock.set(now);
    await signIn();
    try {
      for (const width of WIDTHS) {
        await page.setViewportSize({ width, height: 900 });
        await page.goto(`${app.baseUrl}/ui?lang=${lang}`);
        // each chart's shown day labels, left to right on the screen
        const charts = await page.evaluate<Array<Array<{ text: string; left: number; right: number }>>>(
          `[...document.querySelectorAll('figure.chart svg')].map((svg) =>
            [...svg.querySelectorAll('text.tick.x')]
              .filter((text) => getComputedStyle(text).display !== 'none')
              .map((text) => {
                const r = text.getBoundingClientRect();
                return { text: text.textContent, left: r.left, right: r.right };
              })
              .sort((a, b) => a.left - b.left))`,
        );
        expect(charts.length, `${width}`).toBe(2);
        for (const labels of charts) {
          expect(labels.length, `${width}`).toBeGreaterThanOrEqual(3);
          // neighbours a third of a label's size apart at least (4 px): "nearly touching" was 1–3 px
          for (const [i, label] of labels.slice(1).entries())
            expect(label.left - labels[i]!.right, `${width}px: ${labels[i]!.text} / ${label.text}`).toBeGreaterThan(4);
        }
      }
    } finally {
      app.clock.set(NOW);
      await signIn();
    }
  });
});

describe('a wide table', () => {
  /** Each scrolling box of the client's page: how wide its table is and the box, and its backgrounds. */
  const boxes = () =>
    page.evaluate<Array<{ scrollWidth: number; clientWidth: number; images: string; attachments: string }>>(
      `[...document.querySelectorAll('main .scroll')].map((box) => ({
        scrollWidth: box.scrollWidth,
        clientWidth: box.clientWidth,
        images: getComputedStyle(box).backgroundImage,
        attachments: getComputedStyle(box).backgroundAttachment,
      }))`,
    );

  it.each([['en'], ['ar']])('shows at a phone’s width that it scrolls, and fits a desktop (%s)', async (lang) => {
    await page.setViewportSize({ width: 390, height: 900 });
    await page.goto(`${app.baseUrl}/ui/clients/${clientId}?lang=${lang}`);
    const phone = await boxes();
    const wide = phone.filter((box) => box.scrollWidth > box.clientWidth + 1);
    // the balances' table at least: wider than the phone's screen
    expect(wide.length).toBeGreaterThan(0);
    for (const box of wide) {
      // two shadows that stay at the box's edges, under two covers that move with the table's ends
      expect(box.images.match(/radial-gradient/g)?.length, box.images).toBe(2);
      expect(box.images.match(/linear-gradient/g)?.length, box.images).toBe(2);
      expect(box.attachments).toBe('local, local, scroll, scroll');
    }
    // where the table continues: the end side of its text (the left in Arabic, the right in English); the box starts
    // scrolled to the start, and moves towards the end
    const moved = await page.evaluate<number>(`(() => {
      const box = [...document.querySelectorAll('main .scroll')].find((b) => b.scrollWidth > b.clientWidth + 1);
      box.scrollLeft = ${lang === 'ar' ? -1 : 1} * box.scrollWidth;
      return box.scrollLeft;
    })()`);
    if (lang === 'ar') expect(moved).toBeLessThan(0);
    else expect(moved).toBeGreaterThan(0);
    // the same page at a desktop's width: nothing to scroll, so no shadow shows (both covers over theirs)
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(`${app.baseUrl}/ui/clients/${clientId}?lang=${lang}`);
    const desktop = await boxes();
    expect(desktop.length).toBe(phone.length);
    expect(desktop.filter((box) => box.scrollWidth > box.clientWidth)).toEqual([]);
  });
});

describe('the consumption form’s credit type', () => {
  /**
   * The select of credit types: how wide it is, how wide it would be to show its chosen option whole (a copy of it
   * with that option alone, sized by its content: its padding and arrow included), and how the option is written.
   */
  const measure = () =>
    page.evaluate<{ width: number; needs: number; form: number; direction: string; overflow: string }>(`(() => {
      const select = document.querySelector('select[name="credit_type"]');
      const probe = select.cloneNode(false);
      probe.append(select.selectedOptions[0].cloneNode(true));
      Object.assign(probe.style, {
        position: 'absolute', inlineSize: 'auto', minInlineSize: '0', maxInlineSize: 'none',
      });
      select.parentElement.append(probe);
      const needs = probe.getBoundingClientRect().width;
      probe.remove();
      return {
        width: select.getBoundingClientRect().width,
        needs,
        form: select.closest('.form-grid').getBoundingClientRect().width,
        direction: getComputedStyle(select.selectedOptions[0]).direction,
        overflow: getComputedStyle(select).textOverflow,
      };
    })()`);

  it.each([['en'], ['ar']])('shows a credit type whole, or cut at its end only (%s)', async (lang) => {
    for (const width of WIDTHS) {
      await page.setViewportSize({ width, height: 900 });
      // "SMS (sms, message)": "IS (sms, message)" in Arabic at 1280, its start cut off in a 170 px column
      await page.goto(`${app.baseUrl}/ui/clients/${clientId}/consume?lang=${lang}&credit_type=sms`);
      const sms = await measure();
      expect(sms.width, `${width}px`).toBeGreaterThanOrEqual(sms.needs - 0.5);
      // a name longer than a phone's row: the select as wide as the form, the name cut at its end, with an ellipsis
      await page.goto(`${app.baseUrl}/ui/clients/${clientId}/consume?lang=${lang}&credit_type=sms-intl`);
      const long = await measure();
      if (width === 1280) expect(long.width, `${width}px`).toBeGreaterThanOrEqual(long.needs - 0.5);
      else {
        expect(long.needs).toBeGreaterThan(long.form);
        expect(long.width).toBeCloseTo(long.form, 0);
      }
      // a Latin name is written left to right on either page: its start at the left, what is cut is its end
      expect(long.direction).toBe('ltr');
      expect(long.overflow).toBe('ellipsis');
    }
  });
});
