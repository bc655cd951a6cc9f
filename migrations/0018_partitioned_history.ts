import type { Knex } from 'knex';

/**
 * History that can be archived (issue 17): `ledger_entries` and `consumption_allocations` become natively
 * partitioned by month, RANGE on `created_at` (UTC months), so an old month can be detached and exported.
 *
 * Why `created_at` and not `effective_at` for the ledger: `created_at` is when the row was written (the app's
 * clock at the write), so once a month has ended nothing new lands in it and it can be closed for good.
 * `effective_at` is a consumption's `occurred_at`, which a client may date in the past: a closed — even archived
 * — month would keep receiving rows. Reports, which filter on `effective_at`, keep their index (ledger_usage) on
 * every partition; only the pruning is lost for them. Allocations get the consumption's `created_at` (a new
 * column, written by the same statement as the consumption and its ledger entries), so a consumption, its
 * allocations and its `consume` entries always sit in the same month.
 *
 * Postgres cannot ALTER a table into a partitioned one, so each table is made again (LIKE the old one: same
 * columns, defaults, CHECKs with their names, identity), the rows are moved, the old table dropped and the keys,
 * indexes, foreign keys and the append-only trigger made again on the partitioned parent (every partition,
 * DEFAULT included, gets them). The table is locked while it is copied: run it in a maintenance window.
 *
 * Keys: a unique key of a partitioned table must include the partition key.
 * - ledger_entries: PRIMARY KEY (seq, created_at). seq comes from the identity alone, so it stays unique; nothing
 *   refers to an entry by key (no foreign key, no ON CONFLICT).
 * - consumption_allocations: PRIMARY KEY (consumption_id, balance_id, created_at). Every writer takes created_at
 *   from the consumption it writes in the same statement, whose id is its primary key (consumptions are not
 *   partitioned), so one consumption has one created_at and the key still means (consumption, balance). The
 *   writers do not rely on the allocation key to find a duplicate: they compare the consumptions inserted (ON
 *   CONFLICT DO NOTHING) with the ones sent and roll back on a difference (jobs/consume.ts, jobs/hold.ts).
 *
 * Partitions: a DEFAULT partition takes what has no month yet; `ensure_history_partitions(until, since)` makes
 * the months from `since` to `until` (this migration: the months of the existing rows and the next 3; the nightly
 * expiry sweep: now to now + 3 months), except archived ones. Rows that reached the DEFAULT partition for a
 * month made later are moved into it; the DEFAULT partition is detached meanwhile (a detached table has no
 * append-only trigger), so the trigger is never switched off on a live partition.
 *
 * Archiving (src/services/archive.ts, `npm run cli -- archive-month YYYY-MM`) records the month's closing facts
 * per balance in `balance_checkpoints` (cumulative up to the month's end) and a row in `archived_months`, then
 * detaches the month's two partitions. A detached table keeps its rows for export, and the append-only trigger no
 * longer applies to it (the trigger belongs to the parent).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE archived_months (
      -- the first day of the month (UTC)
      month              date PRIMARY KEY CHECK (extract(day FROM month) = 1),
      ledger_table       text NOT NULL,
      allocations_table  text NOT NULL,
      ledger_entries     bigint NOT NULL,
      allocations        bigint NOT NULL,
      archived_at        timestamptz NOT NULL
    );

    -- A balance's ledger summed from its first entry up to the end of an archived month (written for the
    -- balances with entries in that month; verify starts each balance from its latest checkpoint).
    CREATE TABLE balance_checkpoints (
      balance_id      uuid NOT NULL REFERENCES balances (id),
      month           date NOT NULL REFERENCES archived_months (month),
      entries         bigint NOT NULL CHECK (entries > 0),
      -- the first entry (the grant) and the last one before the month's end
      first_amount    bigint NOT NULL,
      last_seq        bigint NOT NULL,
      last_remaining  bigint NOT NULL,
      ledger_sum      bigint NOT NULL,
      -- by kind, as verify sums them (adjust leaves the first entry out; rollover_out only the negative ones)
      consume_sum     bigint NOT NULL,
      reverse_sum     bigint NOT NULL,
      adjust_sum      bigint NOT NULL,
      expire_sum      bigint NOT NULL,
      void_sum        bigint NOT NULL,
      rollover_out    bigint NOT NULL,
      hold_sum        bigint NOT NULL,
      release_sum     bigint NOT NULL,
      -- entries whose remaining_after did not follow from the one before
      broken_chain    bigint NOT NULL,
      -- every kind of the entries after the first: {"kind": {"amount": "Σ", "n": count}} (balances as of a time)
      later           jsonb NOT NULL,
      PRIMARY KEY (balance_id, month)
    );

    CREATE FUNCTION history_month_start(at timestamptz) RETURNS timestamptz LANGUAGE sql IMMUTABLE AS $$
      SELECT date_trunc('month', at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
    $$;

    -- The partition of one month of one history table; rows of that month in its DEFAULT partition move into it.
    CREATE FUNCTION create_history_partition(parent text, month_start timestamptz) RETURNS void
    LANGUAGE plpgsql AS $$
    DECLARE
      next_start timestamptz := (month_start AT TIME ZONE 'UTC' + interval '1 month') AT TIME ZONE 'UTC';
      name text := parent || to_char(month_start AT TIME ZONE 'UTC', '"_y"YYYY"m"MM');
      fallback text := parent || '_default';
      stranded boolean;
    BEGIN
      EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE created_at >= $1 AND created_at < $2)', fallback)
        INTO stranded USING month_start, next_start;
      IF stranded THEN
        EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', parent, fallback);
      END IF;
      EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                     name, parent, month_start, next_start);
      IF stranded THEN
        EXECUTE format('INSERT INTO %I SELECT * FROM %I WHERE created_at >= $1 AND created_at < $2', name, fallback)
          USING month_start, next_start;
        EXECUTE format('DELETE FROM %I WHERE created_at >= $1 AND created_at < $2', fallback)
          USING month_start, next_start;
        EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I DEFAULT', parent, fallback);
      END IF;
    END $$;

    -- Every month from since's to until's, for both tables, unless it exists or was archived. Answers how many
    -- partitions it made.
    CREATE FUNCTION ensure_history_partitions(until timestamptz, since timestamptz DEFAULT now()) RETURNS integer
    LANGUAGE plpgsql AS $$
    DECLARE
      month_start timestamptz := history_month_start(since);
      parent text;
      made integer := 0;
    BEGIN
      -- two sweeps at once make each partition once
      PERFORM pg_advisory_xact_lock(hashtext('ensure_history_partitions'));
      WHILE month_start <= until LOOP
        IF NOT EXISTS (SELECT 1 FROM archived_months a WHERE a.month = (month_start AT TIME ZONE 'UTC')::date) THEN
          FOREACH parent IN ARRAY ARRAY['ledger_entries', 'consumption_allocations'] LOOP
            IF to_regclass(parent || to_char(month_start AT TIME ZONE 'UTC', '"_y"YYYY"m"MM')) IS NULL THEN
              PERFORM create_history_partition(parent, month_start);
              made := made + 1;
            END IF;
          END LOOP;
        END IF;
        month_start := (month_start AT TIME ZONE 'UTC' + interval '1 month') AT TIME ZONE 'UTC';
      END LOOP;
      RETURN made;
    END $$
    -- making a partition takes an ACCESS EXCLUSIVE lock on the parent for a moment; behind a long read (a report,
    -- verify) it would queue every writer for as long: it gives up after 2 s instead (months are made 3 ahead,
    -- the next sweep tries again)
    SET lock_timeout = '2s';

    ALTER TABLE ledger_entries RENAME TO ledger_entries_unpartitioned;
    CREATE TABLE ledger_entries
      (LIKE ledger_entries_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY)
      PARTITION BY RANGE (created_at);
    CREATE TABLE ledger_entries_default PARTITION OF ledger_entries DEFAULT;

    ALTER TABLE consumption_allocations RENAME TO consumption_allocations_unpartitioned;
    CREATE TABLE consumption_allocations
      (LIKE consumption_allocations_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
       -- the consumption's created_at (its month); the default only serves a version before 0018 still writing
       -- during a rolling deploy (every writer of this version sends it)
       created_at timestamptz NOT NULL DEFAULT now())
      PARTITION BY RANGE (created_at);
    CREATE TABLE consumption_allocations_default PARTITION OF consumption_allocations DEFAULT;

    SELECT ensure_history_partitions(
      greatest(now(), (SELECT max(created_at) FROM ledger_entries_unpartitioned),
               (SELECT max(created_at) FROM consumptions)) + interval '3 months',
      least(now(), (SELECT min(created_at) FROM ledger_entries_unpartitioned),
            (SELECT min(created_at) FROM consumptions)));

    INSERT INTO ledger_entries OVERRIDING SYSTEM VALUE SELECT * FROM ledger_entries_unpartitioned;
    INSERT INTO consumption_allocations (consumption_id, balance_id, amount, created_at)
      SELECT a.consumption_id, a.balance_id, a.amount, c.created_at
        FROM consumption_allocations_unpartitioned a JOIN consumptions c ON c.id = a.consumption_id;

    -- the identity goes on from where the old one stopped
    DO $$
    DECLARE last bigint; called boolean;
    BEGIN
      EXECUTE format('SELECT last_value, is_called FROM %s',
                     pg_get_serial_sequence('ledger_entries_unpartitioned', 'seq'))
        INTO last, called;
      PERFORM setval(pg_get_serial_sequence('ledger_entries', 'seq'), last, called);
    END $$;

    DROP TABLE ledger_entries_unpartitioned;
    DROP TABLE consumption_allocations_unpartitioned;
    DO $$
    BEGIN
      EXECUTE format('ALTER SEQUENCE %s RENAME TO ledger_entries_seq_seq',
                     pg_get_serial_sequence('ledger_entries', 'seq'));
    END $$;

    ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_pkey PRIMARY KEY (seq, created_at);
    ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_balance_id_fkey
      FOREIGN KEY (balance_id) REFERENCES balances (id);
    CREATE INDEX ledger_balance ON ledger_entries (balance_id, seq);
    CREATE INDEX ledger_statement ON ledger_entries (client_id, credit_type_id, seq);
    CREATE INDEX ledger_consumption ON ledger_entries (consumption_id) WHERE consumption_id IS NOT NULL;
    CREATE INDEX ledger_usage ON ledger_entries (effective_at)
      INCLUDE (credit_type_id, client_id, subscription_id, kind, amount)
      WHERE kind IN ('consume', 'reverse');
    -- on the parent: every partition, today's and tomorrow's, refuses UPDATE and DELETE
    CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
      FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only();

    ALTER TABLE consumption_allocations
      ADD CONSTRAINT consumption_allocations_pkey PRIMARY KEY (consumption_id, balance_id, created_at),
      ADD CONSTRAINT consumption_allocations_consumption_id_fkey
        FOREIGN KEY (consumption_id) REFERENCES consumptions (id),
      ADD CONSTRAINT consumption_allocations_balance_id_fkey FOREIGN KEY (balance_id) REFERENCES balances (id);
  `);
}

/**
 * Back to one table each. Refused once a month was archived: its rows left the database's history (the detached
 * tables are the archive), and the plain tables could not hold the balances' whole ledger again.
 */
export async function down(knex: Knex): Promise<void> {
  const archived = await knex.raw<{ rows: Array<{ n: number }> }>('SELECT count(*)::int AS n FROM archived_months');
  if (archived.rows[0]!.n > 0) {
    throw new Error('0018 cannot be undone once a month was archived (archived_months is not empty)');
  }
  await knex.raw(`
    ALTER TABLE ledger_entries RENAME TO ledger_entries_partitioned;
    CREATE TABLE ledger_entries
      (LIKE ledger_entries_partitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY);
    INSERT INTO ledger_entries OVERRIDING SYSTEM VALUE SELECT * FROM ledger_entries_partitioned;
    DO $$
    DECLARE last bigint; called boolean;
    BEGIN
      EXECUTE format('SELECT last_value, is_called FROM %s',
                     pg_get_serial_sequence('ledger_entries_partitioned', 'seq'))
        INTO last, called;
      PERFORM setval(pg_get_serial_sequence('ledger_entries', 'seq'), last, called);
    END $$;
    DROP TABLE ledger_entries_partitioned;
    DO $$
    BEGIN
      EXECUTE format('ALTER SEQUENCE %s RENAME TO ledger_entries_seq_seq',
                     pg_get_serial_sequence('ledger_entries', 'seq'));
    END $$;
    ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_pkey PRIMARY KEY (seq);
    ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_balance_id_fkey
      FOREIGN KEY (balance_id) REFERENCES balances (id);
    CREATE INDEX ledger_balance ON ledger_entries (balance_id, seq);
    CREATE INDEX ledger_statement ON ledger_entries (client_id, credit_type_id, seq);
    CREATE INDEX ledger_consumption ON ledger_entries (consumption_id) WHERE consumption_id IS NOT NULL;
    CREATE INDEX ledger_usage ON ledger_entries (effective_at)
      INCLUDE (credit_type_id, client_id, subscription_id, kind, amount)
      WHERE kind IN ('consume', 'reverse');
    CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
      FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only();

    ALTER TABLE consumption_allocations RENAME TO consumption_allocations_partitioned;
    CREATE TABLE consumption_allocations
      (LIKE consumption_allocations_partitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
    ALTER TABLE consumption_allocations DROP COLUMN created_at;
    INSERT INTO consumption_allocations (consumption_id, balance_id, amount)
      SELECT consumption_id, balance_id, amount FROM consumption_allocations_partitioned;
    DROP TABLE consumption_allocations_partitioned;
    ALTER TABLE consumption_allocations
      ADD CONSTRAINT consumption_allocations_pkey PRIMARY KEY (consumption_id, balance_id),
      ADD CONSTRAINT consumption_allocations_consumption_id_fkey
        FOREIGN KEY (consumption_id) REFERENCES consumptions (id),
      ADD CONSTRAINT consumption_allocations_balance_id_fkey FOREIGN KEY (balance_id) REFERENCES balances (id);

    DROP FUNCTION ensure_history_partitions(timestamptz, timestamptz);
    DROP FUNCTION create_history_partition(text, timestamptz);
    DROP FUNCTION history_month_start(timestamptz);
    DROP TABLE balance_checkpoints;
    DROP TABLE archived_months;
  `);
}
