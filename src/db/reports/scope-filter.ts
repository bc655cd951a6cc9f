import type { Knex } from 'knex';

/** The narrowing the report types accept: one credit type, one client, one package. */
export interface ReportScope {
  creditTypeId?: string | undefined;
  clientId?: string | undefined;
  packageId?: string | undefined;
}

/** Each narrowing as a condition in the report's own table aliases; a report leaves out what it cannot narrow by. */
export interface ScopeConditions {
  creditType?: string;
  client: string;
  package: string;
}

/**
 * The conditions and bindings for the narrowings a run asked for, built together in one order, so
 * that a report's SQL can never pair a condition with another one's value.
 */
export function scopeFilter(
  scope: ReportScope,
  conditions: ScopeConditions,
): { conditions: string[]; bindings: Knex.RawBinding[] } {
  const out = { conditions: [] as string[], bindings: [] as Knex.RawBinding[] };
  const add = (condition: string | undefined, value: string | undefined) => {
    if (condition === undefined || value === undefined) return;
    out.conditions.push(condition);
    out.bindings.push(value);
  };
  add(conditions.creditType, scope.creditTypeId);
  add(conditions.client, scope.clientId);
  add(conditions.package, scope.packageId);
  return out;
}
