import { expect } from 'vitest';
import { expireDue } from '../../src/jobs/expire.js';
import type { TestApp } from './app.js';
import { createClient, createCreditType, createPackage, subscribe } from './fixtures.js';

/**
 * The archiving files' scene: the expiry sweep run first (it makes the history's month partitions), then a client
 * of its own (`<prefix>-client`) holding one six-month package of 100 units of a credit type of its own
 * (`<prefix>-sms`), and its use answered with `?wait=true` (its id).
 */
export async function sixMonthsOfHundred(app: TestApp, prefix: string) {
  await expireDue(app.ctx, app.clock.now());
  const sms = await createCreditType(app, { code: `${prefix}-sms`, unit: 'message' });
  const client = await createClient(app, { external_ref: `${prefix}-client` });
  const pkg = await createPackage(app, [{ credit_type: sms.code, units: 100 }], {
    validity: { count: 6, unit: 'month' },
  });
  await subscribe(app, client.id, pkg.code, { auto_renew: false });
  const use = async (quantity: number, key: string): Promise<string> => {
    const res = await app.request('POST', '/v1/consumptions?wait=true', {
      key: app.keys.write,
      body: { client: client.id, credit_type: sms.code, quantity, idempotency_key: key },
    });
    expect(res.status, res.text).toBe(200);
    return res.body.id as string;
  };
  return { sms, client, use };
}
