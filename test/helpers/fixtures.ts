import { expect } from 'vitest';
import { awaitOutcome } from '../../src/commands/index.js';
import { jobIdOf } from '../../src/jobs/definitions.js';
import type { TestApp } from './app.js';

let counter = 0;
const unique = (prefix: string) => `${prefix}-${process.pid}-${++counter}`;

export async function createCreditType(app: TestApp, body: Record<string, unknown> = {}) {
  const res = await app.request('POST', '/v1/credit-types', {
    body: { code: unique('ct'), name: 'SMS', unit: 'message', decimals: 0, ...body },
  });
  expect(res.status, res.text).toBe(201);
  return res.body as { id: string; code: string; decimals: number; unit: string };
}

export async function createPackage(
  app: TestApp,
  items: Array<{ credit_type: string; units: string | number }>,
  body: Record<string, unknown> = {},
) {
  const res = await app.request('POST', '/v1/packages', {
    body: {
      code: unique('pkg'),
      name: 'Pack',
      price: 1000,
      currency: 'USD',
      validity: { count: 1, unit: 'month' },
      items,
      ...body,
    },
  });
  expect(res.status, res.text).toBe(201);
  return res.body as {
    id: string;
    code: string;
    price: number;
    items: Array<{ credit_type: { id: string }; units: string }>;
  };
}

export async function createClient(app: TestApp, body: Record<string, unknown> = {}) {
  const res = await app.request('POST', '/v1/clients', {
    body: { external_ref: unique('client'), name: 'Client', ...body },
  });
  expect(res.status, res.text).toBe(201);
  return res.body as { id: string; external_ref: string };
}

export async function subscribe(app: TestApp, client: string, pkg: string, body: Record<string, unknown> = {}) {
  const res = await app.request('POST', '/v1/subscriptions', { body: { client, package: pkg, ...body } });
  expect(res.status, res.text).toBe(201);
  return res.body as {
    id: string;
    status: string;
    current_period_start: string;
    current_period_end: string;
    balances: Array<{
      id: string;
      remaining: string;
      granted: string;
      credit_type: { code: string };
      expires_at: string;
    }>;
    invoice: { id: string; number: string; total: number; status: string };
  };
}

/** Counts rows of a table, for "nothing was written" assertions. */
export async function countRows(app: TestApp, table: string): Promise<number> {
  const [row] = (await app.database.db(table).count({ n: '*' })) as Array<{ n: bigint | string | number }>;
  return Number(row?.n ?? 0);
}

export async function snapshotCounts(
  app: TestApp,
  tables = [
    'credit_types',
    'packages',
    'package_items',
    'clients',
    'subscriptions',
    'balances',
    'ledger_entries',
    'invoices',
    'invoice_lines',
    'outbox_events',
    'idempotency_records',
  ],
) {
  const out: Record<string, number> = {};
  for (const t of tables) out[t] = await countRows(app, t);
  return out;
}

/** How the `consume-batch` job of a POST /v1/consumptions/batch answer (its `batch_key`) ended. */
export const batchOutcome = (app: TestApp, batchKey: string) =>
  awaitOutcome(app.ctx, 'consume-batch', jobIdOf('consume-batch', { batch_key: batchKey, items: [] }), {
    timeoutMs: 30_000,
  });
