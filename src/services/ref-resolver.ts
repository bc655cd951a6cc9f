import type { Executor } from '../db/knex.js';
import { clientsNamed } from '../db/repositories/clients.js';
import { creditTypesNamed } from '../db/repositories/credit-types.js';
import { isUuid } from '../ids.js';

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

/** How long a credit type's answer is remembered: its `unit` can be renamed (PATCH), its code and decimals not. */
export const CREDIT_TYPE_TTL_MS = 5_000;

/**
 * Turns the references other systems send (an id, an external_ref, a code) into ids, in bulk and
 * remembered: a client's external_ref and a credit type's code and decimals never change, so an
 * answer stays true. A credit type's `unit` can change (PATCH /v1/credit-types/{id}), so its answer is
 * read again after `creditTypeTtlMs`, and `forgetCreditType` drops it at once in the process that
 * changed it. Unknown references are not remembered (the client may be created next).
 */
export class RefResolver {
  private readonly clients = new Map<string, ResolvedClient>();
  private readonly creditTypes = new Map<string, ResolvedCreditType>();
  /** When each remembered credit type must be read again (in `ticks`). */
  private readonly creditTypeUntil = new WeakMap<ResolvedCreditType, number>();

  constructor(
    private readonly maxEntries = 100_000,
    private readonly ticks: () => number = Date.now,
    private readonly creditTypeTtlMs = CREDIT_TYPE_TTL_MS,
  ) {}

  private freshCreditType = (value: ResolvedCreditType): boolean =>
    (this.creditTypeUntil.get(value) ?? 0) > this.ticks();

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
    return this.resolve(
      db,
      refs,
      this.creditTypes,
      async (missing) => {
        const rows = await creditTypesNamed(db, missing);
        const until = this.ticks() + this.creditTypeTtlMs;
        return rows.flatMap((r) => {
          const value = { id: r.id, code: r.code, decimals: r.decimals, unit: r.unit };
          this.creditTypeUntil.set(value, until);
          return [
            [r.id, value],
            [r.code, value],
          ] as Array<[string, ResolvedCreditType]>;
        });
      },
      this.freshCreditType,
    );
  }

  /** Drops what is remembered of this credit type (by id), so that its next use reads it again. */
  forgetCreditType(id: string): void {
    for (const [ref, value] of this.creditTypes) if (value.id === id) this.creditTypes.delete(ref);
  }

  async client(db: Executor, ref: string): Promise<ResolvedClient | undefined> {
    return (await this.clientsFor(db, [ref])).get(ref);
  }

  async creditType(db: Executor, ref: string): Promise<ResolvedCreditType | undefined> {
    const hit = this.creditTypes.get(ref);
    return hit && this.freshCreditType(hit) ? hit : (await this.creditTypesFor(db, [ref])).get(ref);
  }

  private async resolve<T extends { id: string }>(
    _db: Executor,
    refs: Iterable<string>,
    cache: Map<string, T>,
    load: (missing: string[]) => Promise<Array<[string, T]>>,
    fresh: (value: T) => boolean = () => true,
  ): Promise<Map<string, T>> {
    const out = new Map<string, T>();
    const missing: string[] = [];
    for (const ref of new Set(refs)) {
      const hit = cache.get(ref);
      if (hit && fresh(hit)) out.set(ref, hit);
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
      // a UUID's hex digits are case-insensitive (Postgres reads 'ABC…' as the id 'abc…', as whereRef finds it):
      // an id written in capitals names its row, and wins as any id does
      const id = isUuid(ref) ? ref.toLowerCase() : undefined;
      const byId = id === undefined ? undefined : byKey.get(id);
      const value = byId !== undefined && byId.id === id ? byId : byKey.get(ref);
      if (!value) continue;
      out.set(ref, value);
      cache.set(ref, value);
    }
    return out;
  }
}
