import type { Knex } from 'knex';

/**
 * The periods taken back (src/services/renewal-undo.ts: a renewal made ahead, unpaid, undone by a cancel at period
 * end or a freeze before its period began). Until now the undo deleted the period's row of `subscription_periods`,
 * and the reports that count those rows by their `created_at` (`renewals`, `top_packages`) lost a renewal from the
 * past buckets that had counted it: a nightly run and the same report asked after the undo disagreed. The undo now
 * moves the row here, in its transaction, with when it was taken back (`undone_at`), why (`reason`: the void reason of
 * the renewal's invoice and balances) and by whom (`actor`); `subscription_periods` keeps its meaning, the periods
 * that stand. Its own key (`id`): the same period may be granted again (a renewal after a cancel taken back) and
 * taken back again, each time a row of its own.
 *
 * The past is filled from the invoices: a renewal always has its invoice (issued in the transaction that wrote the
 * period, `issued_at` its `created_at`, its period and total the period's), and only the undo ever deleted a period
 * row, so a renewal invoice no period names is one of a period taken back — and void (the undo voided it, or it had
 * been voided before). Its `voided_at` stands for when it was taken back (the same instant when the undo voided it),
 * its `void_reason` for why; the job that made it is not kept anywhere (null), and it was not a late renewal (a late
 * one is never taken back).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE subscription_periods_undone (
      id               uuid PRIMARY KEY,
      -- the columns of subscription_periods, as the row was
      subscription_id  uuid NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
      starts_at        timestamptz NOT NULL,
      ends_at          timestamptz NOT NULL,
      kind             text NOT NULL CHECK (kind IN ('initial', 'renewal')),
      invoice_id       uuid REFERENCES invoices (id),
      price            bigint NOT NULL CHECK (price >= 0),
      late             boolean NOT NULL,
      job_id           text,
      created_at       timestamptz NOT NULL,
      -- when, why and by whom it was taken back
      undone_at        timestamptz NOT NULL,
      reason           text NOT NULL,
      actor            text NOT NULL,
      CHECK (ends_at > starts_at)
    );
    -- the renewals report's ranges: renewals made (created_at), renewals taken back (undone_at); top_packages's too
    CREATE INDEX subscription_periods_undone_created ON subscription_periods_undone (created_at);
    CREATE INDEX subscription_periods_undone_undone ON subscription_periods_undone (undone_at);
    -- a subscription's periods as of an instant (src/db/reports/as-of.ts: those taken back after it)
    CREATE INDEX subscription_periods_undone_subscription ON subscription_periods_undone (subscription_id, undone_at);

    INSERT INTO subscription_periods_undone
      (id, subscription_id, starts_at, ends_at, kind, invoice_id, price, late, job_id, created_at, undone_at, reason,
       actor)
    SELECT gen_random_uuid(), i.subscription_id, i.period_start, i.period_end, 'renewal', i.id, i.total, false, NULL,
           i.issued_at, i.voided_at, COALESCE(i.void_reason, 'taken back before migration 0034'), 'migration 0034'
      FROM invoices i
     WHERE i.kind = 'renewal' AND i.status = 'void' AND i.subscription_id IS NOT NULL
       AND i.period_start IS NOT NULL AND i.period_end > i.period_start AND i.voided_at IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM subscription_periods sp WHERE sp.invoice_id = i.id);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE subscription_periods_undone');
}
