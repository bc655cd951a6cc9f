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
      ]),
    );
    const undone = await migrateRollbackAll(database.db);
    expect(undone).toHaveLength(applied.length);
    expect(await userTables()).toEqual([]);
    const functions = await database.db('pg_proc').where({ proname: 'ledger_entries_append_only' });
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
