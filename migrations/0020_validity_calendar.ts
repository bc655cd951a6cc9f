import type { Knex } from 'knex';

/**
 * A validity may count its months and years in the Hijri calendar of Umm al-Qura (issue 18): a Ramadan
 * package ends at the end of the Hijri month. `validity_calendar` joins `validity_count` and
 * `validity_unit` wherever a validity is kept: on the package, and on the subscription, whose snapshot of
 * the validity its renewals follow (unless they follow the package). Existing rows are Gregorian, as they
 * always were (the constant default adds the column without rewriting the table). A day or a week is the
 * same in every calendar, so only a month or a year may name another one.
 */
const TABLES = ['packages', 'subscriptions'] as const;

export async function up(knex: Knex): Promise<void> {
  for (const table of TABLES) {
    await knex.raw(
      `ALTER TABLE ?? ADD COLUMN validity_calendar text NOT NULL DEFAULT 'gregory'
         CHECK (validity_calendar IN ('gregory', 'islamic-umalqura')),
       ADD CONSTRAINT ?? CHECK (validity_calendar = 'gregory' OR validity_unit IN ('month', 'year'))`,
      [table, `${table}_validity_calendar_unit_check`],
    );
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const table of TABLES) {
    await knex.raw(`ALTER TABLE ?? DROP CONSTRAINT ??, DROP COLUMN validity_calendar`, [
      table,
      `${table}_validity_calendar_unit_check`,
    ]);
  }
}
