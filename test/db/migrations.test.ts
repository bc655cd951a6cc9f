import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrationSource } from '../../migrations/index.js';
import { isSchemaCurrent, MIGRATIONS_TABLE, migrateLatest, migrateRollbackAll } from '../../src/db/migrate.js';
import { createEmptyDatabase, type TestDatabase } from '../helpers/database.js';

let database: TestDatabase;
beforeAll(async () => {
  database = await createEmptyDatabase();
});
afterAll(async () => {
  await database.drop();
});

const userTables = async () =>
  (
    await database
      .db('pg_tables')
      .where({ schemaname: 'public' })
      .whereNotIn('tablename', ['knex_migrations', 'knex_migrations_lock'])
      .pluck('tablename')
  ).sort();

describe('migrations', () => {
  it('run forward from empty, roll back cleanly, and run forward again', async () => {
    expect(await isSchemaCurrent(database.db)).toBe(false);
    const applied = await migrateLatest(database.db);
    expect(applied.length).toBeGreaterThanOrEqual(8);
    expect(await isSchemaCurrent(database.db)).toBe(true);
    expect(await userTables()).toEqual(
      expect.arrayContaining([
        'balances',
        'ledger_entries',
        'consumptions',
        'consumption_allocations',
        'invoices',
        'invoice_lines',
        'invoice_counters',
        'api_keys',
        'idempotency_records',
        'outbox_events',
        'webhook_endpoints',
        'webhook_deliveries',
        'report_runs',
        'audit_events',
      ]),
    );
    const undone = await migrateRollbackAll(database.db);
    expect(undone).toHaveLength(applied.length);
    expect(await userTables()).toEqual([]);
    const functions = await database
      .db('pg_proc')
      .whereIn('proname', ['ledger_entries_append_only', 'audit_events_append_only']);
    expect(functions).toHaveLength(0);
    expect(await migrateLatest(database.db)).toEqual(applied);
  });

  it('guards the invariants in the database itself', async () => {
    const db = database.db;
    const now = new Date();
    await db('clients').insert({
      id: '00000000-0000-4000-8000-000000000001',
      external_ref: 'c',
      name: 'c',
      created_at: now,
      updated_at: now,
    });
    const duplicate = db('clients').insert({
      id: '00000000-0000-4000-8000-000000000002',
      external_ref: 'c',
      name: 'c',
      created_at: now,
      updated_at: now,
    });
    await expect(duplicate).rejects.toMatchObject({ code: '23505' });
    await db('credit_types').insert({
      id: '00000000-0000-4000-8000-000000000003',
      code: 'ct',
      name: 'ct',
      unit: 'u',
      decimals: 0,
      created_at: now,
      updated_at: now,
    });
    await db('packages').insert({
      id: '00000000-0000-4000-8000-000000000004',
      code: 'p',
      name: 'p',
      price: 1,
      currency: 'USD',
      validity_count: 1,
      validity_unit: 'month',
      created_at: now,
      updated_at: now,
    });
    await db('subscriptions').insert({
      id: '00000000-0000-4000-8000-000000000005',
      client_id: '00000000-0000-4000-8000-000000000001',
      package_id: '00000000-0000-4000-8000-000000000004',
      status: 'active',
      anchor_at: now,
      current_period_start: now,
      current_period_end: new Date(now.getTime() + 1000),
      validity_count: 1,
      validity_unit: 'month',
      currency: 'USD',
      auto_renew: false,
      created_at: now,
      updated_at: now,
    });
    const balance = {
      id: '00000000-0000-4000-8000-000000000006',
      client_id: '00000000-0000-4000-8000-000000000001',
      subscription_id: '00000000-0000-4000-8000-000000000005',
      credit_type_id: '00000000-0000-4000-8000-000000000003',
      source: 'package',
      granted: 5,
      remaining: 5,
      priority: 50,
      valid_from: now,
      expires_at: new Date(now.getTime() + 1000),
      period_start: now,
      created_at: now,
      updated_at: now,
    };
    await db('balances').insert(balance);
    // CHECK (remaining >= 0)
    await expect(db('balances').where({ id: balance.id }).update({ remaining: -1 })).rejects.toMatchObject({
      code: '23514',
    });
    // foreign keys
    await expect(
      db('balances').insert({
        ...balance,
        id: '00000000-0000-4000-8000-000000000007',
        subscription_id: '00000000-0000-4000-8000-0000000000ff',
      }),
    ).rejects.toMatchObject({ code: '23503' });
    // the ledger is append-only
    await db('ledger_entries').insert({
      id: '00000000-0000-4000-8000-000000000008',
      balance_id: balance.id,
      client_id: balance.client_id,
      credit_type_id: balance.credit_type_id,
      subscription_id: balance.subscription_id,
      kind: 'grant',
      amount: 5,
      remaining_after: 5,
      effective_at: now,
      created_at: now,
    });
    await expect(db('ledger_entries').update({ amount: 6 })).rejects.toThrow(/append-only/);
    await expect(db('ledger_entries').delete()).rejects.toThrow(/append-only/);
    // 0015: every kind, 0014's hold and release included, and `extend` only as a move of the expiry, amount 0
    const entry = {
      balance_id: balance.id,
      client_id: balance.client_id,
      credit_type_id: balance.credit_type_id,
      subscription_id: balance.subscription_id,
      amount: 0,
      remaining_after: 5,
      effective_at: now,
      created_at: now,
    };
    for (const kind of ['hold', 'release']) await db('ledger_entries').insert({ ...entry, kind });
    await expect(db('ledger_entries').insert({ ...entry, kind: 'bogus' })).rejects.toMatchObject({ code: '23514' });
    const later = new Date(now.getTime() + 5000);
    await db('ledger_entries').insert({
      ...entry,
      kind: 'extend',
      previous_expires_at: balance.expires_at,
      expires_at: later,
    });
    await expect(
      db('ledger_entries').insert({ ...entry, kind: 'extend', amount: 1, previous_expires_at: now, expires_at: later }),
    ).rejects.toMatchObject({ code: '23514' });
    await expect(db('ledger_entries').insert({ ...entry, kind: 'extend' })).rejects.toMatchObject({ code: '23514' });
    await expect(db('ledger_entries').where({ kind: 'extend' }).delete()).rejects.toThrow(/append-only/);
    // a frozen subscription says since when and until when; another status says neither
    const subscription = db('subscriptions').where({ id: '00000000-0000-4000-8000-000000000005' });
    await expect(subscription.clone().update({ status: 'frozen' })).rejects.toMatchObject({ code: '23514' });
    await subscription.clone().update({ status: 'frozen', frozen_at: now, frozen_until: later });
    await expect(subscription.clone().update({ status: 'active' })).rejects.toMatchObject({ code: '23514' });
    await subscription.clone().update({ status: 'active', frozen_at: null, frozen_until: null });
    // (client, idempotency_key) is unique
    const consumption = {
      id: '00000000-0000-4000-8000-000000000009',
      client_id: balance.client_id,
      credit_type_id: balance.credit_type_id,
      idempotency_key: 'k',
      request_hash: 'h',
      quantity: 1,
      applied: 1,
      shortfall: 0,
      mode: 'reject',
      status: 'applied',
      remaining_after: 4,
      occurred_at: now,
      created_at: now,
    };
    await db('consumptions').insert(consumption);
    await expect(
      db('consumptions').insert({ ...consumption, id: '00000000-0000-4000-8000-00000000000a' }),
    ).rejects.toMatchObject({ code: '23505' });
  });

  it(
    '0011 records the lapses the subscriptions remember ' + '(expired_at), so the renewals report keeps counting them',
    async () => {
      const db = database.db;
      const options = { migrationSource, tableName: MIGRATIONS_TABLE };
      // undone and done again by name: later migrations (0012) do not depend on it
      const only0011 = { ...options, name: '0011_subscription_lapses' };
      expect(await db.migrate.down(only0011)).toEqual([expect.any(Number), ['0011_subscription_lapses']]);
      // a subscription that lapsed and was renewed since: active again, its expired_at remembers the lapse
      const lapsedAt = new Date('2026-03-01T00:00:00.000Z');
      await db('subscriptions').where({ id: '00000000-0000-4000-8000-000000000005' }).update({ expired_at: lapsedAt });
      expect(await db.migrate.up(only0011)).toEqual([expect.any(Number), ['0011_subscription_lapses']]);
      expect(await db('subscription_lapses')).toEqual([
        {
          subscription_id: '00000000-0000-4000-8000-000000000005',
          period_end: lapsedAt,
          client_id: '00000000-0000-4000-8000-000000000001',
          package_id: '00000000-0000-4000-8000-000000000004',
          expired_at: lapsedAt,
        },
      ]);
    },
  );
});

describe('0018 partitioned history', () => {
  const db = () => database.db;
  const options = () => ({ migrationSource, tableName: MIGRATIONS_TABLE, name: '0018_partitioned_history' });
  const ids = {
    client: '00000000-0000-4000-8000-000000000001',
    creditType: '00000000-0000-4000-8000-000000000003',
    subscription: '00000000-0000-4000-8000-000000000005',
    balance: '00000000-0000-4000-8000-000000000006',
  };
  const entryAt = (at: string, amount: number, remainingAfter: number) => ({
    balance_id: ids.balance,
    client_id: ids.client,
    credit_type_id: ids.creditType,
    subscription_id: ids.subscription,
    kind: 'adjust',
    amount,
    remaining_after: remainingAfter,
    effective_at: new Date(at),
    created_at: new Date(at),
  });
  const ledger = async () => db()('ledger_entries').orderBy('seq');
  const allocations = async () =>
    db()('consumption_allocations').select('consumption_id', 'balance_id', 'amount').orderBy('consumption_id');
  const kindOf = async (table: string) =>
    (await db().raw<{ rows: Array<{ relkind: string }> }>('SELECT relkind FROM pg_class WHERE relname = ?', [table]))
      .rows[0]?.relkind;
  const partitionsOf = async (table: string) =>
    (
      await db().raw<{ rows: Array<{ name: string }> }>(
        `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
          WHERE i.inhparent = ?::regclass ORDER BY 1`,
        [table],
      )
    ).rows.map((r) => r.name);

  // partitions of ledger_entries without the append-only trigger (it fires per row: an empty one cannot show it)
  const unguarded = async () =>
    (
      await db().raw<{ rows: Array<{ name: string }> }>(
        `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
          WHERE i.inhparent = 'ledger_entries'::regclass
            AND NOT EXISTS (SELECT 1 FROM pg_trigger t
                             WHERE t.tgrelid = c.oid AND t.tgname = 'ledger_entries_append_only')`,
      )
    ).rows.map((r) => r.name);

  it('moves every row into monthly partitions, keeps the rules, and is undone', async () => {
    // the database of the tests above, back to before 0018, with rows over several months
    expect(await db().migrate.down(options())).toEqual([expect.any(Number), ['0018_partitioned_history']]);
    expect(await kindOf('ledger_entries')).toBe('r');
    await db()('ledger_entries').insert([
      entryAt('2026-01-15T10:00:00Z', 2, 7),
      entryAt('2026-02-28T23:59:59.999Z', -1, 6),
      entryAt('2026-03-01T00:00:00Z', 1, 7),
    ]);
    await db()('consumption_allocations').insert({
      consumption_id: '00000000-0000-4000-8000-000000000009',
      balance_id: ids.balance,
      amount: 1,
    });
    const entriesBefore = await ledger();
    const allocationsBefore = await allocations();
    expect(entriesBefore.length).toBeGreaterThanOrEqual(7);

    expect(await db().migrate.up(options())).toEqual([expect.any(Number), ['0018_partitioned_history']]);
    expect(await kindOf('ledger_entries')).toBe('p');
    expect(await kindOf('consumption_allocations')).toBe('p');
    expect(await ledger()).toEqual(entriesBefore);
    expect(await allocations()).toEqual(allocationsBefore);
    // an allocation carries its consumption's time
    const [consumption] = await db()('consumptions').where({ id: '00000000-0000-4000-8000-000000000009' });
    expect((await db()('consumption_allocations').first())?.created_at).toEqual(consumption.created_at);
    // a partition per month from the oldest row to 3 months past today, and a DEFAULT one
    const months = await partitionsOf('ledger_entries');
    expect(months).toEqual(
      expect.arrayContaining(['ledger_entries_default', 'ledger_entries_y2026m01', 'ledger_entries_y2026m02']),
    );
    const ahead = new Date();
    ahead.setUTCDate(1);
    ahead.setUTCMonth(ahead.getUTCMonth() + 3);
    const aheadName = `y${ahead.getUTCFullYear()}m${String(ahead.getUTCMonth() + 1).padStart(2, '0')}`;
    expect(months).toContain(`ledger_entries_${aheadName}`);
    expect(await partitionsOf('consumption_allocations')).toContain(`consumption_allocations_${aheadName}`);
    const [january] = (
      await db().raw<{ rows: Array<{ n: number }> }>('SELECT count(*)::int AS n FROM ledger_entries_y2026m01')
    ).rows;
    expect(january?.n).toBe(1);
    // the boundary: the last instant of February is February's, midnight is March's
    const where = async (at: string) =>
      (
        await db().raw<{ rows: Array<{ t: string }> }>(
          'SELECT tableoid::regclass::text AS t FROM ledger_entries WHERE created_at = ?',
          [new Date(at)],
        )
      ).rows[0]?.t;
    expect(await where('2026-02-28T23:59:59.999Z')).toBe('ledger_entries_y2026m02');
    expect(await where('2026-03-01T00:00:00Z')).toBe('ledger_entries_y2026m03');

    // append-only, through the parent and on a partition itself
    await expect(db()('ledger_entries').update({ amount: 6 })).rejects.toThrow(/append-only/);
    await expect(db()('ledger_entries').delete()).rejects.toThrow(/append-only/);
    await expect(db()('ledger_entries_y2026m01').delete()).rejects.toThrow(/append-only/);
    await expect(db()('ledger_entries_y2026m02').update({ amount: 1 })).rejects.toThrow(/append-only/);
    expect(await unguarded()).toEqual([]);
    // the identity goes on after the moved rows
    const top = entriesBefore[entriesBefore.length - 1].seq as bigint;
    const [added] = await db()('ledger_entries')
      .insert(entryAt('2026-03-02T00:00:00Z', 0, 7))
      .returning('seq');
    expect(added.seq).toBeGreaterThan(top);
    // an allocation's (consumption, balance) is still written once per consumption
    await expect(
      db()('consumption_allocations').insert({
        consumption_id: '00000000-0000-4000-8000-000000000009',
        balance_id: ids.balance,
        amount: 1,
        created_at: consumption.created_at,
      }),
    ).rejects.toMatchObject({ code: '23505' });

    // a row written for a month without a partition waits in DEFAULT, and moves when its month is made
    await db()('ledger_entries').insert(entryAt('2031-05-10T00:00:00Z', 0, 7));
    expect(await where('2031-05-10T00:00:00Z')).toBe('ledger_entries_default');
    const made = await db().raw<{ rows: Array<{ made: number }> }>('SELECT ensure_history_partitions(?, ?) AS made', [
      new Date('2031-05-20T00:00:00Z'),
      new Date('2031-05-01T00:00:00Z'),
    ]);
    expect(made.rows[0]?.made).toBe(2);
    expect(await where('2031-05-10T00:00:00Z')).toBe('ledger_entries_y2031m05');
    expect(await partitionsOf('ledger_entries')).toContain('ledger_entries_default');
    expect(await unguarded()).toEqual([]);
    await expect(db()('ledger_entries_y2031m05').delete()).rejects.toThrow(/append-only/);
    // made once: a second call makes nothing
    const again = await db().raw<{ rows: Array<{ made: number }> }>('SELECT ensure_history_partitions(?, ?) AS made', [
      new Date('2031-05-20T00:00:00Z'),
      new Date('2031-05-01T00:00:00Z'),
    ]);
    expect(again.rows[0]?.made).toBe(0);

    // undone: plain tables again, the same rows
    const entriesAfter = await ledger();
    expect(await db().migrate.down(options())).toEqual([expect.any(Number), ['0018_partitioned_history']]);
    expect(await kindOf('ledger_entries')).toBe('r');
    expect(await kindOf('ledger_entries_y2026m01')).toBeUndefined();
    expect(await ledger()).toEqual(entriesAfter);
    expect(await allocations()).toEqual(allocationsBefore);
    await expect(db()('ledger_entries').delete()).rejects.toThrow(/append-only/);
    expect(await db().migrate.up(options())).toEqual([expect.any(Number), ['0018_partitioned_history']]);
  });
});

describe('0020 validity calendar', () => {
  const db = () => database.db;
  const options = () => ({ migrationSource, tableName: MIGRATIONS_TABLE, name: '0020_validity_calendar' });
  const pkg = () => db()('packages').where({ id: '00000000-0000-4000-8000-000000000004' });
  const sub = () => db()('subscriptions').where({ id: '00000000-0000-4000-8000-000000000005' });

  it('keeps a calendar beside the validity of packages and subscriptions: Gregorian, or Hijri', async () => {
    // rows written before it are Gregorian
    expect((await pkg().first()).validity_calendar).toBe('gregory');
    expect((await sub().first()).validity_calendar).toBe('gregory');
    for (const rows of [pkg, sub]) {
      await rows().update({ validity_calendar: 'islamic-umalqura', validity_unit: 'year' });
      await rows().update({ validity_unit: 'month' });
      await expect(rows().update({ validity_calendar: 'islamic' })).rejects.toMatchObject({ code: '23514' });
      // a day or a week is the same in every calendar: only a month or a year names another one
      await expect(rows().update({ validity_unit: 'day' })).rejects.toMatchObject({ code: '23514' });
      await expect(rows().update({ validity_unit: 'week' })).rejects.toMatchObject({ code: '23514' });
    }
    // undone and done again: the column goes and comes back, Gregorian
    expect(await db().migrate.down(options())).toEqual([expect.any(Number), ['0020_validity_calendar']]);
    expect((await pkg().first()).validity_calendar).toBeUndefined();
    expect(await db().migrate.up(options())).toEqual([expect.any(Number), ['0020_validity_calendar']]);
    expect((await pkg().first()).validity_calendar).toBe('gregory');
    expect((await sub().first()).validity_calendar).toBe('gregory');
  });
});

describe('0025 subscription suspensions', () => {
  const db = () => database.db;
  const options = () => ({ migrationSource, tableName: MIGRATIONS_TABLE, name: '0025_subscription_suspensions' });
  const id = '00000000-0000-4000-8000-000000000005';
  const event = (n: number, type: string, at: string) => ({
    id: `00000000-0000-4000-8000-0000000025${String(n).padStart(2, '0')}`,
    type,
    client_id: '00000000-0000-4000-8000-000000000001',
    subject_id: id,
    payload: {},
    created_at: new Date(at),
  });

  it('fills the past from the events kept: each suspension until the next resume, open while suspended', async () => {
    expect(await db().migrate.down(options())).toEqual([expect.any(Number), ['0025_subscription_suspensions']]);
    await db()('outbox_events').insert([
      event(1, 'subscription.suspended', '2026-03-01T00:00:00Z'),
      event(2, 'subscription.resumed', '2026-03-04T00:00:00Z'),
      event(3, 'subscription.suspended', '2026-03-10T00:00:00Z'),
    ]);
    await db()('subscriptions').where({ id }).update({ status: 'suspended' });
    expect(await db().migrate.up(options())).toEqual([expect.any(Number), ['0025_subscription_suspensions']]);
    const rows = await db()('subscription_suspensions')
      .where({ subscription_id: id })
      .orderBy('suspended_at')
      .select('suspended_at', 'resumed_at');
    expect(rows).toEqual([
      { suspended_at: new Date('2026-03-01T00:00:00Z'), resumed_at: new Date('2026-03-04T00:00:00Z') },
      { suspended_at: new Date('2026-03-10T00:00:00Z'), resumed_at: null },
    ]);
    // one suspension in progress at most
    await expect(
      db()('subscription_suspensions').insert({
        id: '00000000-0000-4000-8000-000000002599',
        subscription_id: id,
        suspended_at: new Date('2026-03-11T00:00:00Z'),
      }),
    ).rejects.toMatchObject({ code: '23505' });
    await db()('subscriptions').where({ id }).update({ status: 'active' });
    await db()('outbox_events')
      .whereIn('id', [event(1, '', '').id, event(2, '', '').id, event(3, '', '').id])
      .del();
  });

  it('a subscription suspended now whose event is gone: suspended from its last change', async () => {
    expect(await db().migrate.down(options())).toEqual([expect.any(Number), ['0025_subscription_suspensions']]);
    const changed = new Date('2026-04-02T00:00:00Z');
    await db()('subscriptions').where({ id }).update({ status: 'suspended', updated_at: changed });
    expect(await db().migrate.up(options())).toEqual([expect.any(Number), ['0025_subscription_suspensions']]);
    expect(await db()('subscription_suspensions').select('subscription_id', 'suspended_at', 'resumed_at')).toEqual([
      { subscription_id: id, suspended_at: changed, resumed_at: null },
    ]);
    await db()('subscription_suspensions').del();
    await db()('subscriptions').where({ id }).update({ status: 'active' });
  });
});

describe('0034 periods taken back', () => {
  const db = () => database.db;
  const options = () => ({ migrationSource, tableName: MIGRATIONS_TABLE, name: '0034_subscription_periods_undone' });
  const subscription = '00000000-0000-4000-8000-000000000005';
  const at = (iso: string) => new Date(iso);
  const invoice = (n: number, kind: string, status: string, voided: string | null, reason: string | null) => ({
    id: `00000000-0000-4000-8000-0000000034${String(n).padStart(2, '0')}`,
    number: `INV-2034-00000${n}`,
    year: 2034,
    sequence: n,
    client_id: '00000000-0000-4000-8000-000000000001',
    subscription_id: subscription,
    kind,
    currency: 'USD',
    total: 1000 + n,
    status,
    period_start: at(`2034-0${n}-01T00:00:00Z`),
    period_end: at(`2034-0${n + 1}-01T00:00:00Z`),
    issued_at: at(`2034-0${n}-01T00:00:00Z`),
    voided_at: voided === null ? null : at(voided),
    void_reason: reason,
    created_at: at(`2034-0${n}-01T00:00:00Z`),
  });
  const period = (i: ReturnType<typeof invoice>) => ({
    subscription_id: subscription,
    starts_at: i.period_start,
    ends_at: i.period_end,
    kind: i.kind === 'renewal' ? 'renewal' : 'initial',
    invoice_id: i.id,
    price: i.total,
    created_at: i.issued_at,
  });

  it('fills the past from the renewal invoices no period names (only an undo deleted a period row)', async () => {
    expect(await db().migrate.down(options())).toEqual([expect.any(Number), ['0034_subscription_periods_undone']]);
    const undone = invoice(1, 'renewal', 'void', '2034-01-02T09:00:00Z', 'the renewal made ahead was taken back');
    // voided by hand, its period stands; unpaid with its period; a first sale voided (kind subscription)
    const voidedByHand = invoice(2, 'renewal', 'void', '2034-02-03T00:00:00Z', 'wrong price');
    const standing = invoice(3, 'renewal', 'issued', null, null);
    const sale = invoice(4, 'subscription', 'void', '2034-04-02T00:00:00Z', 'never paid');
    await db()('invoices').insert([undone, voidedByHand, standing, sale]);
    await db()('subscription_periods').insert([period(voidedByHand), period(standing)]);
    expect(await db().migrate.up(options())).toEqual([expect.any(Number), ['0034_subscription_periods_undone']]);
    expect(await db()('subscription_periods_undone')).toEqual([
      {
        id: expect.any(String),
        subscription_id: subscription,
        starts_at: at('2034-01-01T00:00:00Z'),
        ends_at: at('2034-02-01T00:00:00Z'),
        kind: 'renewal',
        invoice_id: undone.id,
        price: 1001n,
        late: false,
        job_id: null,
        created_at: at('2034-01-01T00:00:00Z'),
        undone_at: at('2034-01-02T09:00:00Z'),
        reason: 'the renewal made ahead was taken back',
        actor: 'migration 0034',
      },
    ]);
    // the same period taken back again (granted again after a cancel taken back): a row of its own
    const [first] = await db()('subscription_periods_undone');
    await db()('subscription_periods_undone').insert({
      ...first,
      id: '00000000-0000-4000-8000-000000003499',
      undone_at: at('2034-01-03T09:00:00Z'),
    });
    expect(await db()('subscription_periods_undone').where({ subscription_id: subscription })).toHaveLength(2);
    await db()('subscription_periods_undone').del();
    await db()('subscription_periods').where({ subscription_id: subscription }).del();
    await db()('invoices').whereIn('id', [undone.id, voidedByHand.id, standing.id, sale.id]).del();
  });
});

describe('0035 references as objects', () => {
  const db = () => database.db;
  const options = () => ({ migrationSource, tableName: MIGRATIONS_TABLE, name: '0035_reference_objects' });
  // the rows of the first test: credit type `ct` (unit `u`), package `p`, its subscription, a balance, a use
  const ct = { id: '00000000-0000-4000-8000-000000000003', code: 'ct', unit: 'u' };
  const pkg = { id: '00000000-0000-4000-8000-000000000004', code: 'p', name: 'p' };
  const client = '00000000-0000-4000-8000-000000000001';
  const subscription = '00000000-0000-4000-8000-000000000005';
  const balance = '00000000-0000-4000-8000-000000000006';
  const consumption = '00000000-0000-4000-8000-000000000009';
  const hold = '00000000-0000-4000-8000-000000003501';
  const unknown = '00000000-0000-4000-8000-0000000035ff';
  const at = new Date('2035-01-01T00:00:00Z');
  // a granted balance found by its own id (its code stored wrong on purpose: the balance decides), one by its code,
  // one by the credit type's id (what the answer named when the credit type was not at hand), one by nothing
  const granted = [
    { id: balance, credit_type: 'not-its-code', granted: '5', valid_from: '2035-01-01T00:00:00.000Z' },
    { id: unknown, credit_type: 'ct', granted: '1' },
    { id: unknown, credit_type: ct.id, granted: '2' },
    { id: unknown, credit_type: 'gone', granted: '3' },
  ];
  const grantedAfter = [
    { ...granted[0], credit_type: ct },
    { ...granted[1], credit_type: ct },
    { ...granted[2], credit_type: ct },
    granted[3],
  ];
  const events: Array<[type: string, data: Record<string, unknown>, after: Record<string, unknown>]> = [
    ['subscription.renewed', { subscription_id: subscription, balances: granted }, { balances: grantedAfter }],
    [
      'subscription.created',
      { subscription_id: subscription, package: 'p', items: [{ credit_type: 'ct', units: '5' }, { credit_type: 'x' }] },
      { package: pkg, items: [{ credit_type: ct, units: '5' }, { credit_type: 'x' }] },
    ],
    ['subscription.created', { package: 'ghost', items: [] }, { package: 'ghost', items: [] }],
    // found by what each names (a code no credit type has: only the row decides), else by the code, else left
    ['balance.low', { balance_id: balance, credit_type: 'nope', remaining: '1' }, { credit_type: ct, remaining: '1' }],
    ['consumption.rejected', { consumption_id: consumption, credit_type: 'nope' }, { credit_type: ct }],
    ['hold.expired', { hold_id: hold, credit_type: 'nope' }, { credit_type: ct }],
    ['balance.expired', { balance_id: unknown, credit_type: 'ct' }, { credit_type: ct }],
    ['balance.adjusted', { balance_id: unknown, credit_type: 'gone' }, { credit_type: 'gone' }],
    ['balance.depleted', { balance_id: 'not-a-uuid', credit_type: 'gone' }, { credit_type: 'gone' }],
    // already of the new shape, or naming nothing: as they were
    ['balance.expiring_soon', { balance_id: balance, credit_type: ct }, { credit_type: ct }],
    ['invoice.paid', { invoice_id: unknown, total: 1 }, { invoice_id: unknown, total: 1 }],
  ];
  const eventIds = events.map((_, n) => `00000000-0000-4000-8000-0000000035${n + 10}`);
  const payloads = async () =>
    (await db()('outbox_events').whereIn('id', eventIds).orderBy('seq')).map(
      (e: { payload: { data: unknown } }) => e.payload.data,
    );
  const rechargeResult = async () => (await db()('recharges').where({ id: unknown }).first()).result;

  it('rewrites stored answers and events in place, each reference looked up exactly; down gives codes', async () => {
    expect(await db().migrate.down(options())).toEqual([expect.any(Number), ['0035_reference_objects']]);
    await db()('holds').insert({
      id: hold,
      client_id: client,
      credit_type_id: ct.id,
      idempotency_key: 'k-0035',
      request_hash: 'h',
      quantity: 1,
      status: 'expired',
      remaining_after: 0,
      expires_at: at,
      created_at: at,
      updated_at: at,
    });
    await db()('recharges').insert({
      id: unknown,
      subscription_id: subscription,
      idempotency_key: 'k-0035',
      request_hash: 'h',
      period_start: at,
      price: 0,
      result: JSON.stringify({ recharge_id: unknown, status: 'recharged', balances: granted, replayed: false }),
      created_at: at,
    });
    await db()('outbox_events').insert(
      events.map(([type, data], n) => ({
        id: eventIds[n],
        type,
        client_id: client,
        subject_id: null,
        payload: { id: eventIds[n], type, created_at: at.toISOString(), data },
        created_at: at,
        dispatched_at: at,
      })),
    );
    expect(await db().migrate.up(options())).toEqual([expect.any(Number), ['0035_reference_objects']]);
    expect(await rechargeResult()).toEqual({
      recharge_id: unknown,
      status: 'recharged',
      balances: grantedAfter,
      replayed: false,
    });
    expect(await payloads()).toEqual(events.map(([, data, after]) => ({ ...data, ...after })));

    // down: the codes alone again, what could not be resolved as it was; up again: the same objects
    expect(await db().migrate.down(options())).toEqual([expect.any(Number), ['0035_reference_objects']]);
    const codes = (list: typeof granted) =>
      list.map((b) => ({ ...b, credit_type: b.credit_type === 'gone' ? 'gone' : 'ct' }));
    expect((await rechargeResult()).balances).toEqual(codes(granted));
    expect((await payloads())[0]).toEqual({ subscription_id: subscription, balances: codes(granted) });
    expect((await payloads())[1]).toEqual({
      subscription_id: subscription,
      package: 'p',
      items: [{ credit_type: 'ct', units: '5' }, { credit_type: 'x' }],
    });
    expect((await payloads())[9]).toEqual({ balance_id: balance, credit_type: 'ct' });
    expect(await db().migrate.up(options())).toEqual([expect.any(Number), ['0035_reference_objects']]);
    expect((await rechargeResult()).balances).toEqual(grantedAfter);
    expect((await payloads())[0]).toEqual({ subscription_id: subscription, balances: grantedAfter });

    await db()('outbox_events').whereIn('id', eventIds).del();
    await db()('recharges').where({ id: unknown }).del();
    await db()('holds').where({ id: hold }).del();
  });
});

describe('a migration and the statement_timeout of the service connections', () => {
  it('runs with no statement timeout: a long copy or index build on a large store is not cancelled', async () => {
    // the service's connections carry statement_timeout (60 s) as a startup parameter; a migration copying a big
    // ledger (0018) or building an index could take longer, and the deploy would stop half-way at every attempt
    const empty = await createEmptyDatabase();
    try {
      const migration = await migrationSource.getMigration('0001_catalog');
      const trx = await empty.db.transaction();
      try {
        await trx.raw("SET LOCAL statement_timeout = '60s'");
        await migration.up(trx);
        const row = (await trx.raw('SHOW statement_timeout')) as { rows: Array<{ statement_timeout: string }> };
        expect(row.rows[0]!.statement_timeout).toBe('0');
      } finally {
        await trx.rollback();
      }
    } finally {
      await empty.drop();
    }
  });
});
