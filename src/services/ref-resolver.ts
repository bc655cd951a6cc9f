import type { Executor } from '../db/knex.js';
import { clientsNamed } from '../db/repositories/clients.js';
import { creditTypesNamed } from '../db/repositories/credit-types.js';

export interface ResolvedClient {
  id: string;
  externalRef: string;
}

export interface ResolvedCreditType {
  id: string;
  code: string;
  decimals: number;
  unit: string;
}

/**
 * Turns the references other systems send (an id, an external_ref, a code) into ids, in bulk and
 * remembered: a client's external_ref and a credit type's code and decimals never change, so an
 * answer stays true. Unknown references are not remembered (the client may be created next).
 */
export class RefResolver {
  private readonly clients = new Map<string, ResolvedClient>();
  private readonly creditTypes = new Map<string, ResolvedCreditType>();

  constructor(private readonly maxEntries = 100_000) {}

  async clientsFor(db: Executor, refs: Iterable<string>): Promise<Map<string, ResolvedClient>> {
    return this.resolve(db, refs, this.clients, async (missing) => {
      const rows = await clientsNamed(db, missing);
      return rows.flatMap((r) => {
        const value = { id: r.id, externalRef: r.external_ref };
        return [
          [r.id, value],
          [r.external_ref, value],
        ] as Array<[string, ResolvedClient]>;
      });
    });
  }

  async creditTypesFor(db: Executor, refs: Iterable<string>): Promise<Map<string, ResolvedCreditType>> {
    return this.resolve(db, refs, this.creditTypes, async (missing) => {
      const rows = await creditTypesNamed(db, missing);
      return rows.flatMap((r) => {
        const value = { id: r.id, code: r.code, decimals: r.decimals, unit: r.unit };
        return [
          [r.id, value],
          [r.code, value],
        ] as Array<[string, ResolvedCreditType]>;
      });
    });
  }

  async client(db: Executor, ref: string): Promise<ResolvedClient | undefined> {
    return (await this.clientsFor(db, [ref])).get(ref);
  }

  async creditType(db: Executor, ref: string): Promise<ResolvedCreditType | undefined> {
    return this.creditTypes.get(ref) ?? (await this.creditTypesFor(db, [ref])).get(ref);
  }

  private async resolve<T extends { id: string }>(
    _db: Executor,
    refs: Iterable<string>,
    cache: Map<string, T>,
    load: (missing: string[]) => Promise<Array<[string, T]>>,
  ): Promise<Map<string, T>> {
    const out = new Map<string, T>();
    const missing: string[] = [];
    for (const ref of new Set(refs)) {
      const hit = cache.get(ref);
      if (hit) out.set(ref, hit);
      else missing.push(ref);
    }
    if (missing.length === 0) return out;
    const loaded = await load(missing);
    if (cache.size + loaded.length > this.maxEntries) cache.clear();
    // An id match wins over a natural-key match that happens to look like an id.
    const byKey = new Map<string, T>();
    for (const [key, value] of loaded) {
      const existing = byKey.get(key);
      if (!existing || value.id === key) byKey.set(key, value);
    }
    for (const [key, value] of byKey) cache.set(key, value);
    for (const ref of missing) {
      const value = byKey.get(ref);
      if (value) out.set(ref, value);
    }
    return out;
  }
}
