import type { Knex } from 'knex';
import { upsertClient } from '../src/services/clients.js';
import { createCreditType } from '../src/services/credit-types.js';
import { createPackage } from '../src/services/packages.js';
import { subscribe } from '../src/services/subscriptions.js';

/** The clients a benchmark made: ids and external refs, by index. */
export interface SeededClients {
  ids: string[];
  refs: string[];
}

/**
 * What every bench tool stands on: a credit type `<code>-sms`, a package `<code>` of a billion of it for a year,
 * and `count` clients subscribed to it (client n's external ref is `ref(n)`) — a balance each that no run can
 * exhaust. Sixteen clients at a time, then ANALYZE so that the first phase meets the planner's real estimates.
 */
export async function seedClients(
  db: Knex,
  options: { code: string; count: number; ref: (n: number) => string; now: Date },
): Promise<SeededClients> {
  const { code, count, ref, now } = options;
  const name = code.charAt(0).toUpperCase() + code.slice(1);
  const ct = await createCreditType(
    db,
    { code: `${code}-sms`, name: `${name} SMS`, unit: 'message', decimals: 0 },
    now,
  );
  if (!ct.ok) throw new Error(ct.detail);
  const pkg = await createPackage(
    db,
    {
      code,
      name,
      price: 100n,
      currency: 'USD',
      validity: { count: 1, unit: 'year' },
      items: [{ credit_type: `${code}-sms`, units: '1000000000' }],
    },
    now,
  );
  if (!pkg.ok) throw new Error(pkg.detail);
  const seeded: SeededClients = { ids: [], refs: [] };
  for (let i = 0; i < count; i += 16) {
    await Promise.all(
      Array.from({ length: Math.min(16, count - i) }, async (_, j) => {
        const n = i + j;
        const client = await upsertClient(db, { external_ref: ref(n), name: ref(n) }, now);
        if (!client.ok) throw new Error(client.detail);
        const sub = await subscribe(
          db,
          { client: client.value.client.id, package: code },
          { now, timeZone: 'UTC', actor: code },
        );
        if (!sub.ok) throw new Error(sub.detail);
        seeded.ids[n] = client.value.client.id;
        seeded.refs[n] = ref(n);
      }),
    );
  }
  await db.raw('ANALYZE');
  return seeded;
}
