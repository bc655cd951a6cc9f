import type { Knex } from 'knex';

/**
 * When each suspension of a subscription began and ended, as freezes keep theirs (0015): balances "as of" a past
 * instant (DOMAIN.md "As of") place a suspended subscription's units as `unavailable` only while it was suspended.
 * Until now only the status was kept, and an answer as of any instant took the status of now: units usable before
 * a suspension read as unavailable, and a suspension since resumed read as never having been.
 *
 * Written with the status change (PATCH /v1/subscriptions/{id} status suspended / active), in its transaction. An
 * ended subscription's row may stay open: from its end on, its ended status is what an answer as of then says.
 * The past is filled from the `subscription.suspended` / `subscription.resumed` events still kept (each suspension
 * with the first resume after it; one whose resume's event is gone ends at the row's last change, when the resume
 * had happened at the latest), and a subscription suspended now whose event is gone gets one from its `updated_at`
 * (the last change of its row: when it was suspended at the latest).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE subscription_suspensions (
      id               uuid PRIMARY KEY,
      subscription_id  uuid NOT NULL REFERENCES subscriptions (id),
      suspended_at     timestamptz NOT NULL,
      -- when it was resumed; NULL while suspended (or when it ended suspended)
      resumed_at       timestamptz,
      actor            text,
      CHECK (resumed_at IS NULL OR resumed_at >= suspended_at)
    );
    CREATE INDEX subscription_suspensions_subscription ON subscription_suspensions (subscription_id, suspended_at);
    -- suspended again only once resumed
    CREATE UNIQUE INDEX subscription_suspensions_open ON subscription_suspensions (subscription_id)
      WHERE resumed_at IS NULL;

    INSERT INTO subscription_suspensions (id, subscription_id, suspended_at, resumed_at, actor)
    SELECT gen_random_uuid(), e.subject_id, e.created_at,
           COALESCE(
             (SELECT min(r.created_at) FROM outbox_events r
               WHERE r.type = 'subscription.resumed' AND r.subject_id = e.subject_id AND r.created_at >= e.created_at),
             -- its resume's event is gone (or it ended suspended): the row's last change, when that had happened
             CASE WHEN s.status = 'suspended' AND e.created_at = (SELECT max(l.created_at) FROM outbox_events l
                        WHERE l.type = 'subscription.suspended' AND l.subject_id = e.subject_id)
                  THEN NULL ELSE greatest(s.updated_at, e.created_at) END),
           'migration 0025'
      FROM outbox_events e
      JOIN subscriptions s ON s.id = e.subject_id
     WHERE e.type = 'subscription.suspended';

    INSERT INTO subscription_suspensions (id, subscription_id, suspended_at, resumed_at, actor)
    SELECT gen_random_uuid(), s.id, s.updated_at, NULL, 'migration 0025'
      FROM subscriptions s
     WHERE s.status = 'suspended'
       AND NOT EXISTS (SELECT 1 FROM subscription_suspensions x
                        WHERE x.subscription_id = s.id AND x.resumed_at IS NULL);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE subscription_suspensions;');
}
