import { expect } from 'vitest';
import { COMMAND_TYPES, type EventType } from '../../src/domain/event.js';
import { eventSchemaOf } from '../../src/webhooks/event-schemas.js';
import type { TestApp } from './app.js';

/**
 * The steps a scenario over HTTP takes again and again, on the app a file starts in its beforeAll (`app()`): a call,
 * a call that must answer `status`, the clock moved, the nightly run that must fail nothing.
 */
export function httpSteps(app: () => TestApp) {
  const call = (method: string, path: string, body?: unknown) =>
    app().request(method, path, body === undefined ? {} : { body });
  const ok = async (method: string, path: string, body?: unknown, status = 200) => {
    const res = await call(method, path, body);
    expect(res.status, `${method} ${path}: ${res.text}`).toBe(status);
    return res.body;
  };
  const clockTo = async (iso: string) => {
    expect(await ok('PUT', '/v1/admin/clock', { now: iso })).toEqual({ now: iso, mode: 'manual' });
  };
  const nightly = async () => {
    const report = await ok('POST', '/v1/admin/nightly-runs', {});
    for (const phase of report.phases) expect(phase.failed, JSON.stringify(phase)).toEqual([]);
    return report;
  };
  return { call, ok, clockTo, nightly };
}

/** A scenario file's teardown: every ledger invariant holds over what it did (POST /v1/admin/verify), then close. */
/** Every event the app recorded is what its published schema says (what a webhook receiver parses). */
export async function expectEventsMatchSchemas(app: TestApp): Promise<void> {
  // commands (command.auto_recharge) are the relay's own work, never an event a receiver sees (GET /v1/events)
  const events = (await app.database
    .db('outbox_events')
    .whereNotIn('type', [...COMMAND_TYPES])
    .select('type', 'payload')) as Array<{
    type: EventType;
    payload: unknown;
  }>;
  for (const e of events) {
    const parsed = eventSchemaOf(e.type).safeParse(e.payload);
    expect(parsed.success, `${e.type}: ${JSON.stringify(parsed.error?.issues)} in ${JSON.stringify(e.payload)}`).toBe(
      true,
    );
  }
}

export async function closeVerified(app: TestApp): Promise<void> {
  const verify = await app.request('POST', '/v1/admin/verify');
  expect(verify.status, verify.text).toBe(200);
  expect(verify.body.violations).toEqual([]);
  await app.close();
}
