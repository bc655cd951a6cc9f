import type { Knex } from 'knex';

/**
 * API.md "Shapes": a credit type or a package named inside another object is `{id, code, …}`. A renewal's and a
 * recharge's granted balances, and the data of the events, named them by their code alone (`"credit_type": "sms"`,
 * `"package": "basic"`); they now carry a credit type as `{id, code, unit}` and a package as `{id, code, name}`, as
 * the other answers do. What was stored in the old shape and is read back is rewritten in place:
 *
 * - `recharges.result` — a recharge's answer, replayed for a repeat of its key: `balances[].credit_type`;
 * - `outbox_events.payload` — listed by GET /v1/events and sent again by webhook retries: `data.credit_type` (the
 *   balance, consumption and hold events, and the internal `command.auto_recharge`), `data.package` and
 *   `data.items[].credit_type` (`subscription.created`), `data.balances[].credit_type` (`subscription.renewed` and
 *   `subscription.recharged`).
 *
 * Each credit type is looked up exactly: by the balance the object names (`balance_id`, or a granted balance's own
 * `id`), else by its consumption (`consumption_id`), else by its hold (`hold_id`), else by the code (codes never
 * change: PATCH refuses `code`) — or by the id, which a granted balance named when its credit type was not at hand.
 * A package by its code (never changed either) or its id. What cannot be resolved is left as it was.
 */

/**
 * Session functions (pg_temp: gone with the migration's session, dropped at its end) so that every statement is
 * constant text. `uuid_or_null`: the uuid a text holds, or null — the stored JSON is not trusted to hold one (a cast
 * would stop the migration). `credit_type_ref`: the credit type a JSON object names by `credit_type` (a string), as
 * `{id, code, unit}`, looked up as the comment above says (`balance_key` names the object's balance); null if unknown.
 * `credit_type_refs`: each element of an array of such objects with its credit type made an object (unresolved ones
 * left as they were, the order kept). `package_ref`: the package an object names by `package`, as `{id, code, name}`.
 * `credit_type_codes`: each element's credit type object back to its code.
 */
const FUNCTIONS = [
  `CREATE FUNCTION pg_temp.uuid_or_null(t text) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
     SELECT CASE WHEN t ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN t::uuid END
   $$`,
  `CREATE FUNCTION pg_temp.credit_type_ref(o jsonb, balance_key text) RETURNS jsonb LANGUAGE sql STABLE AS $$
     SELECT jsonb_build_object('id', ct.id, 'code', ct.code, 'unit', ct.unit)
       FROM credit_types ct
      WHERE ct.id = COALESCE(
              (SELECT b.credit_type_id FROM balances b WHERE b.id = pg_temp.uuid_or_null(o->>balance_key)),
              (SELECT c.credit_type_id FROM consumptions c WHERE c.id = pg_temp.uuid_or_null(o->>'consumption_id')),
              (SELECT h.credit_type_id FROM holds h WHERE h.id = pg_temp.uuid_or_null(o->>'hold_id')),
              (SELECT x.id FROM credit_types x WHERE x.code = o->>'credit_type'),
              pg_temp.uuid_or_null(o->>'credit_type'))
   $$`,
  `CREATE FUNCTION pg_temp.credit_type_refs(arr jsonb, balance_key text) RETURNS jsonb LANGUAGE sql STABLE AS $$
     SELECT jsonb_agg(CASE WHEN jsonb_typeof(a.el->'credit_type') = 'string'
                           THEN jsonb_set(a.el, '{credit_type}',
                                          COALESCE(pg_temp.credit_type_ref(a.el, balance_key), a.el->'credit_type'))
                           ELSE a.el END ORDER BY a.n)
       FROM jsonb_array_elements(arr) WITH ORDINALITY AS a(el, n)
   $$`,
  `CREATE FUNCTION pg_temp.credit_type_codes(arr jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
     SELECT jsonb_agg(CASE WHEN jsonb_typeof(a.el->'credit_type'->'code') = 'string'
                           THEN jsonb_set(a.el, '{credit_type}', a.el->'credit_type'->'code')
                           ELSE a.el END ORDER BY a.n)
       FROM jsonb_array_elements(arr) WITH ORDINALITY AS a(el, n)
   $$`,
  `CREATE FUNCTION pg_temp.package_ref(o jsonb) RETURNS jsonb LANGUAGE sql STABLE AS $$
     SELECT jsonb_build_object('id', p.id, 'code', p.code, 'name', p.name)
       FROM packages p
      WHERE p.id = COALESCE((SELECT x.id FROM packages x WHERE x.code = o->>'package'),
                            pg_temp.uuid_or_null(o->>'package'))
   $$`,
];

const DROP_FUNCTIONS = `DROP FUNCTION pg_temp.credit_type_refs(jsonb, text), pg_temp.credit_type_codes(jsonb),
  pg_temp.credit_type_ref(jsonb, text), pg_temp.package_ref(jsonb), pg_temp.uuid_or_null(text)`;

// an array is rewritten only when one of its elements names a credit type by a string (up) or an object (down): it
// is then not empty, so the aggregate is never null (`\\?` is knex's escape of the jsonpath filter's `?`)
const UP = [
  `UPDATE recharges SET result = jsonb_set(result, '{balances}', pg_temp.credit_type_refs(result->'balances', 'id'))
    WHERE jsonb_typeof(result->'balances') = 'array'
      AND jsonb_path_exists(result, '$.balances[*].credit_type \\? (@.type() == "string")')`,
  `UPDATE outbox_events
      SET payload = jsonb_set(payload, '{data,balances}', pg_temp.credit_type_refs(payload#>'{data,balances}', 'id'))
    WHERE jsonb_typeof(payload#>'{data,balances}') = 'array'
      AND jsonb_path_exists(payload, '$.data.balances[*].credit_type \\? (@.type() == "string")')`,
  `UPDATE outbox_events
      SET payload = jsonb_set(payload, '{data,items}', pg_temp.credit_type_refs(payload#>'{data,items}', 'balance_id'))
    WHERE jsonb_typeof(payload#>'{data,items}') = 'array'
      AND jsonb_path_exists(payload, '$.data.items[*].credit_type \\? (@.type() == "string")')`,
  `UPDATE outbox_events
      SET payload = jsonb_set(payload, '{data,credit_type}',
                              COALESCE(pg_temp.credit_type_ref(payload->'data', 'balance_id'),
                                       payload#>'{data,credit_type}'))
    WHERE jsonb_typeof(payload#>'{data,credit_type}') = 'string'`,
  `UPDATE outbox_events
      SET payload = jsonb_set(payload, '{data,package}',
                              COALESCE(pg_temp.package_ref(payload->'data'), payload#>'{data,package}'))
    WHERE jsonb_typeof(payload#>'{data,package}') = 'string'`,
];

const DOWN = [
  `UPDATE recharges SET result = jsonb_set(result, '{balances}', pg_temp.credit_type_codes(result->'balances'))
    WHERE jsonb_typeof(result->'balances') = 'array'
      AND jsonb_path_exists(result, '$.balances[*].credit_type.code \\? (@.type() == "string")')`,
  `UPDATE outbox_events
      SET payload = jsonb_set(payload, '{data,balances}', pg_temp.credit_type_codes(payload#>'{data,balances}'))
    WHERE jsonb_typeof(payload#>'{data,balances}') = 'array'
      AND jsonb_path_exists(payload, '$.data.balances[*].credit_type.code \\? (@.type() == "string")')`,
  `UPDATE outbox_events
      SET payload = jsonb_set(payload, '{data,items}', pg_temp.credit_type_codes(payload#>'{data,items}'))
    WHERE jsonb_typeof(payload#>'{data,items}') = 'array'
      AND jsonb_path_exists(payload, '$.data.items[*].credit_type.code \\? (@.type() == "string")')`,
  `UPDATE outbox_events SET payload = jsonb_set(payload, '{data,credit_type}', payload#>'{data,credit_type,code}')
    WHERE jsonb_typeof(payload#>'{data,credit_type,code}') = 'string'`,
  `UPDATE outbox_events SET payload = jsonb_set(payload, '{data,package}', payload#>'{data,package,code}')
    WHERE jsonb_typeof(payload#>'{data,package,code}') = 'string'`,
];

async function run(knex: Knex, statements: readonly string[]): Promise<void> {
  for (const sql of [...FUNCTIONS, ...statements, DROP_FUNCTIONS]) await knex.raw(sql);
}

export async function up(knex: Knex): Promise<void> {
  await run(knex, UP);
}

/**
 * Back to the codes alone, as the release before this one wrote and answered them (its events' schemas, its replayed
 * recharges): every object is given back its `code` — also those written in the new shape since.
 */
export async function down(knex: Knex): Promise<void> {
  await run(knex, DOWN);
}
