import type { Knex } from 'knex';

/**
 * `holds.consumption_id REFERENCES consumptions (id)`, dropped (issue 15: a hold and its capture must cost no more
 * than two consumptions). The one statement that closes a capture writes its consumption and sets the hold's
 * `consumption_id` to it together (db/repositories/holds.ts `writeClosingBatch`), and consumptions are never
 * deleted; the key's check, run once per capture, looked the new consumption up and took a share lock on its row
 * (a WAL record of its own) — the one check a consumption does not pay. The rule it guarded stays, off the hot path:
 * the nightly verify reports a captured hold whose consumption is missing (services/verify.ts).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE holds DROP CONSTRAINT holds_consumption_id_fkey;');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE holds ADD CONSTRAINT holds_consumption_id_fkey
      FOREIGN KEY (consumption_id) REFERENCES consumptions (id);
  `);
}
