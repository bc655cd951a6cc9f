import { describe, expect, it } from 'vitest';
import { scopeFilter } from '../../src/db/reports/scope-filter.js';

const CONDITIONS = { creditType: 'l.credit_type_id = ?', client: 'l.client_id = ?', package: 'p.package_id = ?' };

describe('scopeFilter: the narrowings a report run asked for', () => {
  it('pairs each condition with its own value, and leaves out what was not asked', () => {
    expect(scopeFilter({}, CONDITIONS)).toEqual({ conditions: [], bindings: [] });
    expect(scopeFilter({ packageId: 'P', clientId: 'C', creditTypeId: 'T' }, CONDITIONS)).toEqual({
      conditions: ['l.credit_type_id = ?', 'l.client_id = ?', 'p.package_id = ?'],
      bindings: ['T', 'C', 'P'],
    });
    expect(scopeFilter({ packageId: 'P', clientId: undefined }, CONDITIONS)).toEqual({
      conditions: ['p.package_id = ?'],
      bindings: ['P'],
    });
  });

  it('ignores a narrowing the report cannot apply (no condition for it)', () => {
    expect(
      scopeFilter({ creditTypeId: 'T', clientId: 'C' }, { client: 's.client_id = ?', package: 's.package_id = ?' }),
    ).toEqual({ conditions: ['s.client_id = ?'], bindings: ['C'] });
  });
});
