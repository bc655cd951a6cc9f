import type { Knex } from 'knex';

/**
 * Two indexes of 0014 that no query reads and no rule needs, which every hold paid for on the hot path
 * (issue 15: a hold and its capture must cost no more than two consumptions):
 * - `holds (client_id, idempotency_key)` UNIQUE: a hold's id IS the uuid v5 of (client, idempotency_key)
 *   (src/ids.ts `holdId`), so its primary key already allows one hold per pair. It was written twice a
 *   hold: at the insert, and again at its closing, whose update is not HOT (it changes `status`, which
 *   the sweep's partial index reads) and so enters the new row version in every index.
 * - `hold_allocations (hold_id, position)` UNIQUE: the positions of a hold are the indexes of its
 *   burn-down's allocations (domain/hold.ts `planHolds`), 0, 1, 2… by construction; the primary key
 *   (hold_id, balance_id) serves every read by hold, and orders by position after it.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE holds DROP CONSTRAINT holds_client_id_idempotency_key_key;
    ALTER TABLE hold_allocations DROP CONSTRAINT hold_allocations_hold_id_position_key;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE hold_allocations ADD CONSTRAINT hold_allocations_hold_id_position_key UNIQUE (hold_id, position);
    ALTER TABLE holds ADD CONSTRAINT holds_client_id_idempotency_key_key UNIQUE (client_id, idempotency_key);
  `);
}
