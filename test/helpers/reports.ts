import { expect } from 'vitest';
import { awaitOutcome } from '../../src/commands/index.js';
import { jobIds } from '../../src/jobs/job-id.js';
import type { TestApp } from './app.js';

export interface RunView {
  id: string;
  type: string;
  format: 'json' | 'csv';
  status: 'queued' | 'running' | 'done' | 'failed';
  params: Record<string, unknown>;
  row_count: number | null;
  byte_size: number | null;
  error: string | null;
  download_url: string | null;
}

/** Waits for a run's generate job (on BullMQ's completion event, never by sleeping), then reads the run. */
export async function awaitRun(app: TestApp, id: string, timeoutMs = 25_000): Promise<RunView> {
  const outcome = await awaitOutcome(app.ctx, 'generate', jobIds.report(id), { timeoutMs: timeoutMs });
  expect(outcome.state, JSON.stringify(outcome)).not.toBe('timeout');
  const run = await app.request<RunView>('GET', `/v1/reports/${id}`, { key: app.keys.read });
  expect(run.status, run.text).toBe(200);
  return run.body;
}

/** POST /v1/reports, then wait for the run to finish. */
export async function runReport(app: TestApp, body: Record<string, unknown>, timeoutMs?: number): Promise<RunView> {
  const res = await app.request<{ id: string; status: string }>('POST', '/v1/reports', { key: app.keys.write, body });
  expect(res.status, res.text).toBe(202);
  return awaitRun(app, res.body.id, timeoutMs);
}

/**
 * A run's file: its bytes as sent, and its text decoded as UTF-8 the way `fetch`'s `text()` does it — without
 * the byte order mark a CSV file starts with.
 */
export async function download(
  app: TestApp,
  id: string,
): Promise<{ status: number; headers: Headers; text: string; bytes: Buffer }> {
  const res = await fetch(`${app.baseUrl}/v1/reports/${id}/download`, {
    headers: { authorization: `Bearer ${app.keys.read}` },
  });
  const bytes = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, text: new TextDecoder().decode(bytes), bytes };
}

/** The UTF-8 byte order mark that starts every CSV report, so that Excel reads it as UTF-8. */
export const UTF8_BOM_BYTES = Buffer.from([0xef, 0xbb, 0xbf]);

/** A done report's JSON rows. */
export async function jsonRows<T = Record<string, unknown>>(
  app: TestApp,
  body: Record<string, unknown>,
): Promise<{
  run: RunView;
  rows: T[];
  doc: { type: string; params: Record<string, unknown>; generated_at: string; rows: T[] };
}> {
  const run = await runReport(app, { ...body, format: 'json' });
  expect(run.status, run.error ?? '').toBe('done');
  const file = await download(app, run.id);
  expect(file.status, file.text).toBe(200);
  const doc = JSON.parse(file.text) as {
    type: string;
    params: Record<string, unknown>;
    generated_at: string;
    rows: T[];
  };
  return { run, rows: doc.rows, doc };
}

/** Parses RFC 4180 CSV (quoted fields, doubled quotes, CRLF; a leading BOM skipped), for checking what was written. */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  let quoted = false;
  for (let i = text.startsWith('\uFEFF') ? 1 : 0; i < text.length; i += 1) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 1;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      record.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      i += 1;
    } else field += c;
  }
  if (field !== '' || record.length > 0) {
    record.push(field);
    records.push(record);
  }
  return records;
}

/**
 * A report asked for in JSON and in CSV with the same params: the CSV starts with the byte order mark, its header
 * is the JSON rows' keys and each record their values as text (null: empty), and its run counts as many rows.
 */
export async function reportInBothFormats(
  app: TestApp,
  type: string,
  params: Record<string, unknown> = {},
): Promise<{ rows: Array<Record<string, unknown>>; csv: string[][]; csvRun: RunView }> {
  const { rows } = await jsonRows(app, { type, params });
  const csvRun = await runReport(app, { type, params, format: 'csv' });
  expect(csvRun.status, csvRun.error ?? '').toBe('done');
  const file = await download(app, csvRun.id);
  expect(file.bytes.subarray(0, 3)).toEqual(UTF8_BOM_BYTES);
  const csv = parseCsv(file.text);
  const header = csv[0]!;
  if (rows.length > 0) expect(header).toEqual(Object.keys(rows[0]!));
  expect(csv.slice(1)).toEqual(rows.map((r) => header.map((c) => (r[c] === null ? '' : String(r[c])))));
  expect(csvRun.row_count).toBe(rows.length);
  return { rows, csv, csvRun };
}

/** A `renewals` report row as a list, in its columns' order: bucket, currency, counts, then money. */
export const renewalsRow = (r: Record<string, unknown>): unknown[] => [
  r.period_start,
  r.currency,
  r.new_subscriptions,
  r.renewals,
  r.recharges,
  r.expirations,
  r.new_revenue,
  r.renewal_revenue,
  r.recharge_revenue,
  r.revenue,
  r.voided_revenue,
];
