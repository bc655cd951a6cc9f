import type { Knex } from 'knex';

/**
 * The audit trail (issue 18): who changed what from the pages, the admin API and the CLI. Append-only
 * like the ledger: the database itself refuses to change or remove a row, so the trail cannot be
 * edited after the fact by the service, a script or a person with the service's credentials.
 * `actor_key_id` has no foreign key: the CLI acts with no key, and the trail must outlive anything
 * it names.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE audit_events (
      id            uuid PRIMARY KEY,
      at            timestamptz NOT NULL,
      actor_key_id  uuid,
      actor_name    text NOT NULL,
      origin        text NOT NULL CHECK (origin IN ('api', 'ui', 'cli')),
      -- the route's method and template (POST /v1/packages/{id}), or the CLI command
      action        text NOT NULL,
      -- the path's id, or the id of what the call created
      target_id     text,
      -- the request body with its secrets redacted
      request       jsonb,
      -- the answer's status: a refused call is recorded too, with no change behind it
      status        integer NOT NULL,
      request_id    text
    );
    CREATE INDEX audit_events_at ON audit_events (at, id);
    CREATE INDEX audit_events_actor ON audit_events (actor_key_id, at, id);

    CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP USING ERRCODE = 'restrict_violation';
    END $$;
    CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
      FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
    CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
      FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP TABLE audit_events; DROP FUNCTION audit_events_append_only();`);
}
