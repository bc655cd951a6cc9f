import type { Knex } from 'knex';

/**
 * GET /v1/events lists the outbox for receivers that reconcile, page after page. `seq` is handed out
 * when a row is inserted, not when it commits: a transaction that took seq 10 and commits after the
 * one that took seq 11 would be passed over by a reader that had already moved past 11. Each row now
 * keeps the id of the transaction that wrote it, and the list is read in (xid, seq) order, only up to
 * the oldest transaction still running (`pg_snapshot_xmin`): whatever commits later has a larger
 * xid, so it always lands after the reader's cursor. Rows written before this migration share its
 * xid (they keep their seq order).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE outbox_events ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
    CREATE INDEX outbox_events_commit_order ON outbox_events (xid, seq);
    CREATE INDEX outbox_events_type_commit_order ON outbox_events (type, xid, seq);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP INDEX outbox_events_type_commit_order;
    DROP INDEX outbox_events_commit_order;
    ALTER TABLE outbox_events DROP COLUMN xid;
  `);
}
