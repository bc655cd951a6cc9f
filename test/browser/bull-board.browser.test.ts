import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { artifactPath, ensureChromium, launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';

/**
 * Bull Board in a real browser: the page is a script that draws itself from Bull Board's own API,
 * so only a browser shows that the admin key as the Basic password opens it and that every queue,
 * and a failed job with its reason, is there to see. Screenshots go to test/artifacts/.
 */
let app: TestApp;
let browser: TestBrowser;

const basic = (password: string) => `Basic ${Buffer.from(`operator:${password}`).toString('base64')}`;

beforeAll(async () => {
  ensureChromium();
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-03-15T10:00:00.000Z' });
  const sms = await createCreditType(app, { code: 'bb-sms' });
  const pkg = await createPackage(app, [{ credit_type: sms.code, units: 100 }]);
  const client = await createClient(app);
  await subscribe(app, client.id, pkg.code);
  for (let i = 0; i < 3; i += 1) {
    const res = await app.request('POST', '/v1/consumptions?wait=true', {
      body: { client: client.id, credit_type: sms.code, quantity: 1, idempotency_key: `bb-${i}` },
    });
    expect(res.status, res.text).toBe(200);
  }
  // a job pushed directly with a payload no schema accepts: it fails at once, with its reason
  await app.ctx.queues.consumption.add(
    'consume',
    { client: client.id, credit_type: sms.code, quantity: 'lots', idempotency_key: 'bb-bad' },
    { jobId: 'bb-bad' },
  );
  const job = await app.ctx.queues.consumption.getJob('bb-bad');
  await expect(job!.waitUntilFinished(await consumptionEvents(), 20_000)).rejects.toThrow(/validation_failed/);
  browser = await launchBrowser();
}, 15 * 60_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
});

/** The consumption queue's events, opened once (the test app's runtime opens listeners on demand). */
async function consumptionEvents() {
  const { openOutcomeListeners } = await import('../../src/commands/index.js');
  await openOutcomeListeners(app.ctx, ['consumption']);
  return app.ctx.queueEvents.consumption!.events;
}

async function pageWith(authorization?: string): Promise<Page> {
  const page = await browser.context.newPage();
  if (authorization) await page.setExtraHTTPHeaders({ authorization });
  return page;
}

describe('Bull Board in a browser', () => {
  it('asks for credentials without a key', async () => {
    const page = await pageWith();
    try {
      // the Basic challenge reaches the browser; headless, with no credentials to offer, it gives up
      const challenged = page.waitForResponse((r) => r.url().endsWith('/admin/queues'));
      await expect(page.goto(`${app.baseUrl}/admin/queues`)).rejects.toThrow(/ERR_INVALID_AUTH_CREDENTIALS/);
      const response = await challenged;
      expect(response.status()).toBe(401);
      expect(response.headers()['www-authenticate']).toMatch(/^Basic/);
    } finally {
      await page.close();
    }
  });

  it('opens with the admin key as the password: every queue listed, the failed job with its reason', async () => {
    const page = await pageWith(basic(app.keys.admin));
    try {
      const response = await page.goto(`${app.baseUrl}/admin/queues`);
      expect(response?.status()).toBe(200);
      for (const queue of ['consumption', 'renewal', 'recharge', 'maintenance', 'reports', 'webhooks']) {
        await page.getByRole('link', { name: queue, exact: true }).first().waitFor({ timeout: 20_000 });
      }
      await page.screenshot({ path: artifactPath('bull-board-queues.png'), fullPage: true });

      await page.goto(`${app.baseUrl}/admin/queues/queue/consumption?status=failed`);
      await page.getByText('bb-bad').first().waitFor({ timeout: 20_000 });
      await page
        .getByText(/validation_failed/)
        .first()
        .waitFor({ timeout: 20_000 });
      await page.screenshot({ path: artifactPath('bull-board-failed.png'), fullPage: true });
    } finally {
      await page.close();
    }
  });
});
