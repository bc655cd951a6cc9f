import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expireDue } from '../../src/jobs/expire.js';
import { NO_NIGHTLY_REPORTS, startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';
import { closeVerified, expectEventsMatchSchemas, httpSteps } from '../helpers/http-steps.js';
import { jsonRows } from '../helpers/reports.js';
import { signInToUi, uiPage, uiPost } from '../helpers/ui-session.js';

/**
 * DOMAIN.md has a hold end at its `expires_at` and a freeze at its `frozen_until`; the sweep that records it comes
 * every few minutes. A live read of a client answers as the sweep would have left it: what the sweep owes the client
 * is done first (the same closing, ledger entries and events), once. Over HTTP, the clock moved by PUT
 * /v1/admin/clock, no scheduler: nothing is swept unless a test sweeps.
 */
let app: TestApp;
let sms: { id: string; code: string };
const { call, ok, clockTo } = httpSteps(() => app);
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-06-10T12:00:00.000Z', env: NO_NIGHTLY_REPORTS });
  sms = await createCreditType(app, { code: 'sr-sms', unit: 'message' });
});
afterAll(async () => {
  await expectEventsMatchSchemas(app);
  await closeVerified(app);
});

interface Scene {
  client: { id: string; external_ref: string };
  pkg: { id: string; code: string };
  sub: { id: string };
  balance: { id: string };
}

/** A client with a month of `units` SMS from now (not renewed), on a package of its own. */
async function clientWith(units: number, packageExtra: Record<string, unknown> = {}): Promise<Scene> {
  const client = await createClient(app);
  const pkg = await createPackage(app, [{ credit_type: sms.code, units }], packageExtra);
  const sub = await subscribe(app, client.id, pkg.code, { auto_renew: false });
  return { client, pkg, sub, balance: sub.balances[0]! };
}

/** 10 SMS, 8 of them held for a minute at 12:00; the clock then moved to 12:03, past the hold, nothing swept. */
async function expiredHoldScene(): Promise<Scene & { holdId: string }> {
  await clockTo('2026-06-10T12:00:00.000Z');
  const scene = await clientWith(10);
  const held = await ok('POST', '/v1/holds?wait=true', {
    client: scene.client.id,
    credit_type: sms.code,
    quantity: 8,
    idempotency_key: 'h-past',
    expires_in_seconds: 60,
  });
  expect(held).toMatchObject({ status: 'held', held: '8', remaining: '2' });
  await clockTo('2026-06-10T12:03:00.000Z');
  return { ...scene, holdId: held.id };
}

const eventsOf = async (type: string, subject: string) =>
  (await app.database.db('outbox_events').where({ type, subject_id: subject })) as Array<{ payload: unknown }>;
const ledgerCount = async (clientId: string) =>
  Number((await app.database.db('ledger_entries').where({ client_id: clientId }).count({ n: '*' }))[0]!.n);
const smsRow = (body: { data: Array<{ credit_type: { code: string } }> }) =>
  body.data.find((r) => r.credit_type.code === sms.code);

/** A back office page (English) as an admin reads it: 200, its HTML. */
async function backOffice(path: string): Promise<string> {
  const page = await uiPage(app.baseUrl, await signInToUi(app.baseUrl, app.keys.admin), `${path}?lang=en`);
  expect(page.status, path).toBe(200);
  return page.html;
}
/** A page's section from its heading's id on, up to the next section. */
const section = (html: string, from: string): string => {
  const start = html.indexOf(from);
  expect(start, from).toBeGreaterThanOrEqual(0);
  const end = html.indexOf('</section>', start);
  return html.slice(start, end < 0 ? undefined : end);
};
/** The body rows of a bit of HTML's tables. */
const rowsOf = (html: string): string[] =>
  [...html.matchAll(/<tbody>(.*?)<\/tbody>/gs)].flatMap((m) => m[1]!.split('<tr>').slice(1));
/** The statuses a row's badges show. */
const statusesOf = (row: string): string[] => [...row.matchAll(/data-status="(\w+)"/g)].map((m) => m[1]!);

/** What the sweep leaves of the scene's hold: closed as expired once, its 8 units back on the balance. */
async function expectSwept(scene: Scene & { holdId: string }) {
  const [hold] = await app.database.db('holds').where({ id: scene.holdId });
  expect(hold).toMatchObject({ status: 'expired', released: 8n, lapsed: 0n });
  expect(await eventsOf('hold.expired', scene.holdId)).toHaveLength(1);
  const [balance] = await app.database.db('balances').where({ id: scene.balance.id });
  expect(balance).toMatchObject({ remaining: 10n, held: 0n });
}

describe('a hold past its expires_at is read as the sweep leaves it, by each live read alone', () => {
  const reads: Array<[string, (s: Scene & { holdId: string }) => Promise<void>]> = [
    [
      'GET /v1/holds/{id}',
      async (s) => {
        const hold = await ok('GET', `/v1/holds/${s.holdId}`);
        expect(hold).toMatchObject({ status: 'expired', held: '0', released: '8', lapsed: '0' });
      },
    ],
    [
      'GET /v1/holds?client=&status=held',
      async (s) => {
        expect((await ok('GET', `/v1/holds?client=${s.client.id}&status=held`)).data).toEqual([]);
      },
    ],
    [
      'GET /v1/holds?status=held (no client: the clients of the page)',
      async (s) => {
        const listed = (await ok('GET', '/v1/holds?status=held&limit=500')).data as Array<{ id: string }>;
        expect(listed.map((h) => h.id)).not.toContain(s.holdId);
      },
    ],
    [
      'GET /v1/holds?status=expired (no client: what the sweep owes anyone, first)',
      async (s) => {
        const listed = (await ok('GET', '/v1/holds?status=expired&limit=500')).data as Array<{ id: string }>;
        expect(listed.find((h) => h.id === s.holdId)).toMatchObject({ status: 'expired', released: '8' });
      },
    ],
    [
      'GET /v1/holds?client= (any status)',
      async (s) => {
        const listed = (await ok('GET', `/v1/holds?client=${s.client.external_ref}`)).data;
        expect(listed).toMatchObject([{ id: s.holdId, status: 'expired', held: '0' }]);
      },
    ],
    [
      'GET /v1/clients/{id}/balances',
      async (s) => {
        const row = smsRow(await ok('GET', `/v1/clients/${s.client.id}/balances`));
        expect(row).toMatchObject({ remaining: '10', held: '0' });
      },
    ],
    [
      'GET /v1/clients/{id}/forecast',
      async (s) => {
        const forecast = await ok('GET', `/v1/clients/${s.client.id}/forecast?credit_type=${sms.code}`);
        expect(forecast).toMatchObject({ remaining: '10' });
      },
    ],
    [
      'GET /v1/subscriptions/{id}',
      async (s) => {
        const sub = await ok('GET', `/v1/subscriptions/${s.sub.id}`);
        expect(sub.balances).toMatchObject([{ id: s.balance.id, remaining: '10', held: '0' }]);
      },
    ],
    [
      'GET /v1/subscriptions?client=',
      async (s) => {
        const subs = (await ok('GET', `/v1/subscriptions?client=${s.client.id}`)).data;
        expect(subs).toMatchObject([{ id: s.sub.id, balances: [{ remaining: '10', held: '0' }] }]);
      },
    ],
    [
      'GET /v1/balances/{id}',
      async (s) => {
        expect(await ok('GET', `/v1/balances/${s.balance.id}`)).toMatchObject({ remaining: '10', held: '0' });
      },
    ],
    [
      'GET /v1/clients/{id}/statement',
      async (s) => {
        const entries = (await ok('GET', `/v1/clients/${s.client.id}/statement`)).data as Array<{ kind: string }>;
        expect(entries.map((e) => e.kind)).toEqual(['grant', 'hold', 'release']);
      },
    ],
    [
      'the back office client page',
      async (s) => {
        const session = await signInToUi(app.baseUrl, app.keys.admin);
        const page = await uiPage(app.baseUrl, session, `/ui/clients/${s.client.id}`);
        expect(page.status).toBe(200);
      },
    ],
    [
      'the back office overview (every client: what the sweep owes anyone, first)',
      async (s) => {
        const page = await backOffice('/ui');
        // 8 of its 10 held past the hold's end would read 80% used, "nearly consumed"
        expect(section(page, 'id="nearly-h"')).not.toContain(`/ui/clients/${s.client.id}"`);
      },
    ],
    [
      'the back office package page (its every client: what the sweep owes anyone, first)',
      async (s) => {
        await backOffice(`/ui/packages/${s.pkg.code}`);
      },
    ],
    [
      'the back office balance page',
      async (s) => {
        await backOffice(`/ui/balances/${s.balance.id}`);
      },
    ],
    ...(['capture', 'release'] as const).map((action): [string, (s: Scene & { holdId: string }) => Promise<void>] => [
      `the back office ${action} (asks first, unless the hold is closed)`,
      async (s) => {
        const session = await signInToUi(app.baseUrl, app.keys.admin);
        const form = await uiPage(app.baseUrl, session, '/ui/clients/new');
        const csrf = /name="csrf" value="([^"]+)"/.exec(form.html)?.[1] ?? '';
        const asked = await uiPost(app.baseUrl, session, `/ui/holds/${s.holdId}/${action}`, { csrf });
        // ended at its expires_at: nothing to confirm, the route answers — a capture refused (409, told on the
        // client's page), a release of a hold already given back done (to the client's page)
        expect(asked.text).not.toContain(`data-action="confirm-${action}"`);
        expect(asked.status).toBe(action === 'capture' ? 409 : 303);
      },
    ]),
  ];
  it.each(reads)('%s', async (_, read) => {
    const scene = await expiredHoldScene();
    await read(scene);
    await expectSwept(scene);
  });

  it('the whole walk: every read agrees, `hold.expired` once, and the sweep after it changes nothing', async () => {
    const scene = await expiredHoldScene();
    const hold = await ok('GET', `/v1/holds/${scene.holdId}`);
    expect(hold).toMatchObject({ status: 'expired', held: '0', released: '8', closed_at: '2026-06-10T12:03:00.000Z' });
    expect(smsRow(await ok('GET', `/v1/clients/${scene.client.id}/balances`))).toMatchObject({
      remaining: '10',
      held: '0',
    });
    expect((await ok('GET', `/v1/holds?client=${scene.client.id}&status=held`)).data).toEqual([]);
    const events = (await ok('GET', '/v1/events?type=hold.expired&limit=500')).data as Array<{
      data: { hold_id: string };
    }>;
    expect(events.filter((e) => e.data.hold_id === scene.holdId)).toHaveLength(1);
    const entries = await ledgerCount(scene.client.id);
    // the nightly run's sweep: the hold is no longer due, nothing is written twice
    const night = await ok('POST', '/v1/admin/nightly-runs', {});
    for (const phase of night.phases) expect(phase.failed, JSON.stringify(phase)).toEqual([]);
    expect(await ledgerCount(scene.client.id)).toBe(entries);
    await expectSwept(scene);
    expect(await ok('GET', `/v1/holds/${scene.holdId}`)).toEqual(hold);
  });

  it('a read owing nothing writes nothing: a hold not yet expired stays held', async () => {
    await clockTo('2026-06-10T12:00:00.000Z');
    const scene = await clientWith(10);
    const held = await ok('POST', '/v1/holds?wait=true', {
      client: scene.client.id,
      credit_type: sms.code,
      quantity: 3,
      idempotency_key: 'h-live',
      expires_in_seconds: 600,
    });
    await clockTo('2026-06-10T12:09:59.000Z');
    const entries = await ledgerCount(scene.client.id);
    expect(await ok('GET', `/v1/holds/${held.id}`)).toMatchObject({ status: 'held', held: '3' });
    expect(smsRow(await ok('GET', `/v1/clients/${scene.client.id}/balances`))).toMatchObject({
      remaining: '7',
      held: '3',
    });
    expect(await ledgerCount(scene.client.id)).toBe(entries);
  });
});

/**
 * The sweep first makes the history's month partitions; made concurrently with a closing's ledger write, that may
 * deadlock (one of them retried). Made before the races below, which are about the closing itself.
 */
const partitionsMade = () => expireDue(app.ctx, app.clock.now());

describe('a read racing the sweep over a hold past its expires_at', () => {
  it('closes it once, with one `hold.expired`, whichever comes first', async () => {
    await partitionsMade();
    for (let round = 0; round < 6; round++) {
      const scene = await expiredHoldScene();
      const [read, swept, again] = await Promise.all([
        call('GET', `/v1/holds/${scene.holdId}`),
        expireDue(app.ctx, app.clock.now()),
        call('GET', `/v1/clients/${scene.client.id}/balances`),
      ]);
      expect(read.status, read.text).toBe(200);
      expect(read.body).toMatchObject({ status: 'expired', released: '8' });
      expect(swept.ok).toBe(true);
      expect(smsRow(again.body)).toMatchObject({ remaining: '10', held: '0' });
      await expectSwept(scene);
      // grant, hold, release: one closing
      expect(await ledgerCount(scene.client.id)).toBe(3);
    }
  });
});

describe('a subscription past its frozen_until is read as the sweep leaves it', () => {
  /** 10 SMS from 10 Jun 12:00 to 10 Jul 12:00, frozen 2 days at 10 Jun 12:00; the clock then at 12 Jun 13:00. */
  async function thawedScene(): Promise<Scene> {
    await clockTo('2026-06-10T12:00:00.000Z');
    const scene = await clientWith(10, { max_freeze_days: 10 });
    const frozen = await ok('POST', `/v1/subscriptions/${scene.sub.id}/freeze`, { days: 2 });
    expect(frozen).toMatchObject({ status: 'frozen', frozen_until: '2026-06-12T12:00:00.000Z' });
    await clockTo('2026-06-12T13:00:00.000Z');
    return scene;
  }
  /** Unfrozen once, at frozen_until: everything pushed by exactly the 2 days it was frozen. */
  async function expectThawed(scene: Scene) {
    const [sub] = await app.database.db('subscriptions').where({ id: scene.sub.id });
    expect(sub).toMatchObject({ status: 'active', frozen_until: null });
    expect((sub.current_period_end as Date).toISOString()).toBe('2026-07-12T12:00:00.000Z');
    const [balance] = await app.database.db('balances').where({ id: scene.balance.id });
    expect((balance.expires_at as Date).toISOString()).toBe('2026-07-12T12:00:00.000Z');
    const unfrozen = await eventsOf('subscription.unfrozen', scene.sub.id);
    expect(unfrozen).toHaveLength(1);
    expect(unfrozen[0]!.payload).toMatchObject({ data: { by: 'sweep', frozen_seconds: 2 * 86_400 } });
  }

  const reads: Array<[string, (s: Scene) => Promise<void>]> = [
    [
      'GET /v1/subscriptions?package=&status=active (no client: what the sweep owes anyone, first)',
      async (s) => {
        const listed = (await ok('GET', `/v1/subscriptions?package=${s.pkg.code}&status=active`)).data;
        expect(listed).toMatchObject([{ id: s.sub.id, status: 'active', frozen_until: null }]);
      },
    ],
    [
      'GET /v1/subscriptions/{id}',
      async (s) => {
        const sub = await ok('GET', `/v1/subscriptions/${s.sub.id}`);
        expect(sub).toMatchObject({
          status: 'active',
          frozen_at: null,
          frozen_until: null,
          current_period_end: '2026-07-12T12:00:00.000Z',
          balances: [{ id: s.balance.id, expires_at: '2026-07-12T12:00:00.000Z', remaining: '10' }],
        });
      },
    ],
    [
      'GET /v1/subscriptions?client=',
      async (s) => {
        const subs = (await ok('GET', `/v1/subscriptions?client=${s.client.id}`)).data;
        expect(subs).toMatchObject([
          { id: s.sub.id, status: 'active', current_period_end: '2026-07-12T12:00:00.000Z' },
        ]);
      },
    ],
    [
      'GET /v1/subscriptions?status=frozen (no client: the clients of the page)',
      async (s) => {
        const listed = (await ok('GET', '/v1/subscriptions?status=frozen&limit=500')).data as Array<{ id: string }>;
        expect(listed.map((x) => x.id)).not.toContain(s.sub.id);
      },
    ],
    [
      'GET /v1/clients/{id}/balances',
      async (s) => {
        const row = smsRow(await ok('GET', `/v1/clients/${s.client.id}/balances`));
        expect(row).toMatchObject({ remaining: '10', unavailable: '0', next_expiry: '2026-07-12T12:00:00.000Z' });
      },
    ],
    [
      'GET /v1/clients/{id}/forecast',
      async (s) => {
        const forecast = await ok('GET', `/v1/clients/${s.client.id}/forecast?credit_type=${sms.code}`);
        expect(forecast).toMatchObject({
          remaining: '10',
          expiring_unused: [{ balance_id: s.balance.id, expires_at: '2026-07-12T12:00:00.000Z', units: '10' }],
        });
      },
    ],
    [
      'the back office client page',
      async (s) => {
        const session = await signInToUi(app.baseUrl, app.keys.admin);
        expect((await uiPage(app.baseUrl, session, `/ui/clients/${s.client.id}`)).status).toBe(200);
      },
    ],
    [
      'the back office subscription page',
      async (s) => {
        const session = await signInToUi(app.baseUrl, app.keys.admin);
        const page = await uiPage(app.baseUrl, session, `/ui/subscriptions/${s.sub.id}`);
        expect(page.status).toBe(200);
        // active again: the unfreeze action is gone, suspending is offered
        expect(page.html).not.toContain('data-action="unfreeze"');
        expect(page.html).toContain('data-action="suspend"');
      },
    ],
    [
      'the back office overview (every client: what the sweep owes anyone, first)',
      async (s) => {
        // its package's row of the counts per package and status (linked by its id): active, none frozen
        const rows = rowsOf(section(await backOffice('/ui'), 'id="status-h"')).filter((r) =>
          r.includes(`/ui/packages/${s.pkg.id}"`),
        );
        expect(rows.map(statusesOf)).toEqual([['active']]);
        expect(rows[0]).toMatch(/<td class="num">1<\/td>/);
      },
    ],
    [
      'the back office package page (its every client: what the sweep owes anyone, first)',
      async (s) => {
        const page = await backOffice(`/ui/packages/${s.pkg.code}`);
        // the counts: 1 active, none frozen; the subscription's row: active, its period pushed to 12 Jul
        const counts = rowsOf(section(page, 'id="pstatus-h"'));
        expect(counts.map(statusesOf)).toEqual([['active']]);
        expect(counts[0]).toMatch(/<td class="num">1<\/td>/);
        const listed = rowsOf(section(page, 'id="psubs-h"'));
        expect(listed.map(statusesOf)).toEqual([['active']]);
        expect(listed[0]).toContain('12 Jul');
      },
    ],
    [
      'the subscriptions report (as of now: what the sweep owes anyone, first)',
      async (s) => {
        const rows = (await jsonRows<Record<string, unknown>>(app, { type: 'subscriptions', params: {} })).rows;
        expect(rows.filter((r) => r.package_code === s.pkg.code)).toMatchObject([
          { row_type: 'summary', status: 'active', count: 1 },
          { row_type: 'subscription', status: 'active', period_end: '2026-07-12T12:00:00.000Z' },
        ]);
      },
    ],
    [
      'the back office balance page',
      async (s) => {
        // its expiry pushed by the 2 days frozen
        expect(await backOffice(`/ui/balances/${s.balance.id}`)).toContain('12 Jul');
      },
    ],
  ];
  it.each(reads)('%s', async (_, read) => {
    const scene = await thawedScene();
    await read(scene);
    await expectThawed(scene);
  });

  it('the walk: subscription, balances, forecast; the sweep after it unfreezes nothing again', async () => {
    const scene = await thawedScene();
    expect(await ok('GET', `/v1/subscriptions/${scene.sub.id}`)).toMatchObject({
      status: 'active',
      current_period_end: '2026-07-12T12:00:00.000Z',
    });
    expect(smsRow(await ok('GET', `/v1/clients/${scene.client.id}/balances`))).toMatchObject({ remaining: '10' });
    const forecast = await ok('GET', `/v1/clients/${scene.client.id}/forecast?credit_type=${sms.code}`);
    expect(forecast).toMatchObject({ remaining: '10', days_until_empty: null });
    const entries = await ledgerCount(scene.client.id);
    const night = await ok('POST', '/v1/admin/nightly-runs', {});
    for (const phase of night.phases) expect(phase.failed, JSON.stringify(phase)).toEqual([]);
    expect(await ledgerCount(scene.client.id)).toBe(entries);
    await expectThawed(scene);
  });

  it('a read racing the sweep unfreezes it once', async () => {
    await partitionsMade();
    for (let round = 0; round < 6; round++) {
      const scene = await thawedScene();
      const [read, swept] = await Promise.all([
        call('GET', `/v1/subscriptions/${scene.sub.id}`),
        expireDue(app.ctx, app.clock.now()),
        call('GET', `/v1/clients/${scene.client.id}/balances`),
      ]);
      expect(read.status, read.text).toBe(200);
      expect(read.body).toMatchObject({ status: 'active', current_period_end: '2026-07-12T12:00:00.000Z' });
      expect(swept.ok).toBe(true);
      await expectThawed(scene);
    }
  });
});
