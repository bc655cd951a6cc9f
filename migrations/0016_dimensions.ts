import type { Knex } from 'knex';

/**
 * DOMAIN.md "Dimensions": a credit type declares up to 5 metadata keys, and each consumption keeps
 * its values for them, so that usage can be grouped by them (GET /v1/clients/{id}/usage, the
 * consumption report). The values are taken from the consumption's `metadata` when it is written,
 * by the same statement (db/repositories/consumptions.ts): `{key: text}` for the declared keys the
 * metadata gives a string, number or boolean for; NULL when none.
 *
 * Indexes: usage reads one client's credit type over a range of occurred_at and sums applied by a
 * time bucket or a dimension value, so consumptions_usage carries those columns (an index-only scan,
 * rejected uses left out); reversals count when they happened, from the few reversed rows.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE credit_types ADD COLUMN dimensions jsonb NOT NULL DEFAULT '[]'::jsonb
      CONSTRAINT credit_types_dimensions_shape
      CHECK (jsonb_typeof(dimensions) = 'array' AND jsonb_array_length(dimensions) <= 5);
    ALTER TABLE consumptions ADD COLUMN dimensions jsonb
      CONSTRAINT consumptions_dimensions_shape CHECK (dimensions IS NULL OR jsonb_typeof(dimensions) = 'object');
    CREATE INDEX consumptions_usage ON consumptions (client_id, credit_type_id, occurred_at)
      INCLUDE (applied, dimensions) WHERE applied > 0;
    CREATE INDEX consumptions_reversed ON consumptions (client_id, credit_type_id, reversed_at)
      INCLUDE (reversal_returned, dimensions) WHERE reversed_at IS NOT NULL;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP INDEX consumptions_reversed;
    DROP INDEX consumptions_usage;
    ALTER TABLE consumptions DROP COLUMN dimensions;
    ALTER TABLE credit_types DROP COLUMN dimensions;
  `);
}
