import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonTime } from '../../src/json-time.js';

describe('jsonTime: an instant as JSON writes a Date', () => {
  it('is what JSON.stringify writes, whatever came before it', () => {
    fc.assert(
      fc.property(fc.array(fc.date({ noInvalidDate: true }), { minLength: 1, maxLength: 20 }), (dates) => {
        for (const at of [...dates, ...dates.slice().reverse(), dates[0]!]) {
          expect(JSON.stringify(jsonTime(at))).toBe(JSON.stringify(at));
          // a new Date of the same instant, and the same Date again, answer alike
          expect(jsonTime(new Date(at.getTime()))).toBe(at.toISOString());
        }
      }),
    );
  });

  it('is null for no date and for an invalid one, as JSON writes them', () => {
    expect(jsonTime(null)).toBeNull();
    expect(jsonTime(undefined)).toBeNull();
    expect(jsonTime(new Date(Number.NaN))).toBeNull();
    expect(JSON.stringify({ at: new Date(Number.NaN) })).toBe('{"at":null}');
  });
});
