import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { ensureChromium, launchBrowser, type TestBrowser } from '../helpers/browser.js';

/**
 * /docs in Chromium under its own Content-Security-Policy (src/http/openapi.ts DOCS_CSP): Swagger UI renders the
 * OpenAPI document and tries its operations, and the browser reports no violation of the policy.
 */
let app: TestApp;
let browser: TestBrowser;
let page: Page;

beforeAll(async () => {
  ensureChromium();
  app = await startTestApp({ roles: ['api'], now: '2026-03-15T10:00:00.000Z' });
  browser = await launchBrowser();
  page = await browser.context.newPage();
  // every violation of the page's policy, as the browser reports it to the page itself
  await page.addInitScript({
    content:
      'window.cspViolations = []; document.addEventListener("securitypolicyviolation", ' +
      '(e) => window.cspViolations.push(e.violatedDirective + " " + e.blockedURI));',
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
});

describe('/docs', () => {
  it('renders the API under its Content-Security-Policy, with no violation', async () => {
    const res = await page.goto(`${app.baseUrl}/docs`);
    expect(res?.headers()['content-security-policy']).toContain("script-src 'self'");
    await page.locator('.swagger-ui .info .title').waitFor();
    expect(await page.locator('.swagger-ui .info .title').textContent()).toContain('credits');
    // the operations are listed (from /openapi.json, fetched under connect-src 'self'), and one opens
    const consume = page.locator('.opblock-summary-path', { hasText: '/v1/consumptions' }).first();
    await consume.waitFor();
    await consume.click();
    await page.locator('.opblock.is-open .opblock-body').first().waitFor();
    expect(await page.evaluate('window.cspViolations')).toEqual([]);
  });
});
