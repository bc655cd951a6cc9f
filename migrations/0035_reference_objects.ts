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

/** The uuid a text holds, or null: the stored JSON is not trusted to hold one (a cast would stop the migration). */
const uuidOf = (text: string) =>
  `(CASE WHEN ${text} ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN (${text})::uuid END)`;

/** The credit type a JSON object (`o`) names by `o.credit_type` (a string), as `{id, code, unit}`; null if unknown. */
const creditTypeOf = (o: string, balanceKey: string) => `
  (SELECT jsonb_build_object('id', ct.id, 'code', ct.code, 'unit', ct.unit)
     FROM credit_types ct
    WHERE ct.id = COALESCE(
            (SELECT b.credit_type_id FROM balances b WHERE b.id = ${uuidOf(`${o}->>'${balanceKey}'`)}),
            (SELECT c.credit_type_id FROM consumptions c WHERE c.id = ${uuidOf(`${o}->>'consumption_id'`)}),
            (SELECT h.credit_type_id FROM holds h WHERE h.id = ${uuidOf(`${o}->>'hold_id'`)}),
            (SELECT x.id FROM credit_types x WHERE x.code = ${o}->>'credit_type'),
            ${uuidOf(`${o}->>'credit_type'`)}))`;

/** The package a JSON object (`o`) names by `o.package` (a string), as `{id, code, name}`; null if unknown. */
const packageOf = (o: string) => `
  (SELECT jsonb_build_object('id', p.id, 'code', p.code, 'name', p.name)
     FROM packages p
    WHERE p.id = COALESCE((SELECT x.id FROM packages x WHERE x.code = ${o}->>'package'),
                          ${uuidOf(`${o}->>'package'`)}))`;

type Direction = 'up' | 'down';

/** Where a JSON column holds the objects to rewrite: the column itself, or its object at `path`. */
interface Place {
  table: string;
  column: string;
  path: string[];
}
const objectAt = ({ column, path }: Place) => (path.length === 0 ? column : `${column}#>'{${path.join(',')}}'`);
const pathTo = ({ path }: Place, key: string) => `'{${[...path, key].join(',')}}'`;

/**
 * The array `key` of the object at `place` (granted balances, a sale's items): each element's `credit_type` made an
 * object (`up`; `balanceKey` names the element's balance) or its code again (`down`), in the array's order.
 */
function rewriteElements(place: Place, key: string, balanceKey: string, direction: Direction): string {
  const array = `${objectAt(place)}->'${key}'`;
  const element =
    direction === 'up'
      ? `CASE WHEN jsonb_typeof(a.el->'credit_type') = 'string'
              THEN jsonb_set(a.el, '{credit_type}',
                             COALESCE(${creditTypeOf('a.el', balanceKey)}, a.el->'credit_type'))
              ELSE a.el END`
      : `CASE WHEN jsonb_typeof(a.el->'credit_type'->'code') = 'string'
              THEN jsonb_set(a.el, '{credit_type}', a.el->'credit_type'->'code')
              ELSE a.el END`;
  const found = direction === 'up' ? `a.el->'credit_type'` : `a.el->'credit_type'->'code'`;
  return `
    UPDATE ${place.table}
       SET ${place.column} = jsonb_set(${place.column}, ${pathTo(place, key)},
             (SELECT jsonb_agg(${element} ORDER BY a.n)
                FROM jsonb_array_elements(${array}) WITH ORDINALITY AS a(el, n)))
     WHERE jsonb_typeof(${array}) = 'array'
       AND EXISTS (SELECT 1
                     FROM jsonb_array_elements(CASE WHEN jsonb_typeof(${array}) = 'array' THEN ${array} END) AS a(el)
                    WHERE jsonb_typeof(${found}) = 'string')`;
}

/** The field `key` (`credit_type`, `package`) of the object at `place`: made an object, or its code again. */
function rewriteField(place: Place, key: 'credit_type' | 'package', direction: Direction): string {
  const at = objectAt(place);
  const value = `${at}->'${key}'`;
  if (direction === 'down')
    return `
      UPDATE ${place.table} SET ${place.column} = jsonb_set(${place.column}, ${pathTo(place, key)}, ${value}->'code')
       WHERE jsonb_typeof(${value}->'code') = 'string'`;
  const object = key === 'credit_type' ? creditTypeOf(at, 'balance_id') : packageOf(at);
  return `
    UPDATE ${place.table}
       SET ${place.column} = jsonb_set(${place.column}, ${pathTo(place, key)}, COALESCE(${object}, ${value}))
     WHERE jsonb_typeof(${value}) = 'string'`;
}

const statements = (direction: Direction): string[] => {
  const recharge: Place = { table: 'recharges', column: 'result', path: [] };
  const event: Place = { table: 'outbox_events', column: 'payload', path: ['data'] };
  return [
    rewriteElements(recharge, 'balances', 'id', direction),
    rewriteElements(event, 'balances', 'id', direction),
    rewriteElements(event, 'items', 'balance_id', direction),
    rewriteField(event, 'credit_type', direction),
    rewriteField(event, 'package', direction),
  ];
};

export async function up(knex: Knex): Promise<void> {
  for (const sql of statements('up')) await knex.raw(sql);
}

/**
 * Back to the codes alone, as the release before this one wrote and answered them (its events' schemas, its replayed
 * recharges): every object is given back its `code` — also those written in the new shape since.
 */
export async function down(knex: Knex): Promise<void> {
  for (const sql of statements('down')) await knex.raw(sql);
}
