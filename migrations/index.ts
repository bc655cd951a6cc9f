import type { Knex } from 'knex';
import * as m0001 from './0001_catalog.js';
import * as m0002 from './0002_clients_subscriptions.js';
import * as m0003 from './0003_invoices_periods.js';
import * as m0004 from './0004_balances_ledger.js';
import * as m0005 from './0005_consumptions.js';
import * as m0006 from './0006_access_and_idempotency.js';
import * as m0007 from './0007_outbox_webhooks.js';
import * as m0008 from './0008_reports.js';
import * as m0009 from './0009_reports_ui.js';
import * as m0010 from './0010_job_failures.js';
import * as m0011 from './0011_subscription_lapses.js';
import * as m0012 from './0012_subscriptionless_grants.js';
import * as m0013 from './0013_accepted_carrier.js';
import * as m0014 from './0014_holds.js';
import * as m0015 from './0015_freeze.js';
import * as m0016 from './0016_dimensions.js';
import * as m0017 from './0017_webhooks_standard.js';
import * as m0018 from './0018_partitioned_history.js';
import * as m0019 from './0019_outbox_commit_order.js';
import * as m0020 from './0020_validity_calendar.js';
import * as m0021 from './0021_audit_events.js';
import * as m0022 from './0022_hold_indexes.js';
import * as m0023 from './0023_idempotency_job_index.js';
import * as m0024 from './0024_hold_consumption_key.js';
import * as m0025 from './0025_subscription_suspensions.js';
import * as m0026 from './0026_activation_entries.js';
import * as m0027 from './0027_endpoint_first_event.js';
import * as m0028 from './0028_nightly_runs.js';
import * as m0029 from './0029_endpoint_pauses.js';
import * as m0030 from './0030_ledger_created_brin.js';
import * as m0031 from './0031_lapse_at_period_end.js';
import * as m0032 from './0032_reversal_given_back.js';
import * as m0033 from './0033_invoices_voided_at.js';
import * as m0034 from './0034_subscription_periods_undone.js';
import * as m0035 from './0035_reference_objects.js';
import * as m0036 from './0036_consumption_failures.js';

interface Migration {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

/**
 * Migrations are listed here rather than discovered from the file system, so that they load the same
 * way under tsx, vitest and compiled JavaScript (knex's documented `migrationSource`).
 */
const migrations: ReadonlyArray<[name: string, migration: Migration]> = [
  ['0001_catalog', m0001],
  ['0002_clients_subscriptions', m0002],
  ['0003_invoices_periods', m0003],
  ['0004_balances_ledger', m0004],
  ['0005_consumptions', m0005],
  ['0006_access_and_idempotency', m0006],
  ['0007_outbox_webhooks', m0007],
  ['0008_reports', m0008],
  ['0009_reports_ui', m0009],
  ['0010_job_failures', m0010],
  ['0011_subscription_lapses', m0011],
  ['0012_subscriptionless_grants', m0012],
  ['0013_accepted_carrier', m0013],
  ['0014_holds', m0014],
  ['0015_freeze', m0015],
  ['0016_dimensions', m0016],
  ['0017_webhooks_standard', m0017],
  ['0018_partitioned_history', m0018],
  ['0019_outbox_commit_order', m0019],
  ['0020_validity_calendar', m0020],
  ['0021_audit_events', m0021],
  ['0022_hold_indexes', m0022],
  ['0023_idempotency_job_index', m0023],
  ['0024_hold_consumption_key', m0024],
  ['0025_subscription_suspensions', m0025],
  ['0026_activation_entries', m0026],
  ['0027_endpoint_first_event', m0027],
  ['0028_nightly_runs', m0028],
  ['0029_endpoint_pauses', m0029],
  ['0030_ledger_created_brin', m0030],
  ['0031_lapse_at_period_end', m0031],
  ['0032_reversal_given_back', m0032],
  ['0033_invoices_voided_at', m0033],
  ['0034_subscription_periods_undone', m0034],
  ['0035_reference_objects', m0035],
  ['0036_consumption_failures', m0036],
];

/**
 * The service's connections carry a 60 s statement_timeout (a startup parameter, or the role's behind PgBouncer); a
 * migration copying a large table (0018's ledger) or building an index on one may take longer, and would be cancelled
 * at every attempt of the deploy. Each migration runs in its own transaction (knex's default, which every one keeps):
 * the timeout is lifted for that transaction only.
 */
const withoutStatementTimeout = (migration: Migration): Migration => ({
  up: async (knex) => {
    await knex.raw('SET LOCAL statement_timeout = 0');
    await migration.up(knex);
  },
  down: async (knex) => {
    await knex.raw('SET LOCAL statement_timeout = 0');
    await migration.down(knex);
  },
});

export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => migrations.map(([name]) => name),
  getMigrationName: (name) => name,
  getMigration: async (name) => {
    const found = migrations.find(([n]) => n === name);
    if (!found) throw new Error(`unknown migration ${name}`);
    return withoutStatementTimeout(found[1]);
  },
};

export const latestMigration = migrations[migrations.length - 1]![0];
