import { describe, expect, it } from 'vitest';
import { plainDecimal, requestOf } from '../../packages/producer/src/canonical-json.js';

describe('plainDecimal: one text for a quantity however it was written', () => {
  it.each([
    [3, '3'],
    ['3', '3'],
    ['3.00', '3'],
    [' +03 ', '3'],
    ['0.50', '0.5'],
    ['.5', '0.5'],
    ['5.', '5'],
    [2.5, '2.5'],
    ['-0.0', '0'],
    ['-1.20', '-1.2'],
    ['000', '0'],
  ])('%j → %j', (input, text) => {
    expect(plainDecimal(input)).toBe(text);
  });

  it.each([['abc'], [''], ['.'], ['1e3'], [null], [true]])('leaves what is not a plain decimal as it is: %j', (v) => {
    expect(plainDecimal(v)).toBe(v);
  });

  it('makes the same use one request, a single one and within a batch; another quantity stays another', () => {
    const use = { client: 'c', credit_type: 'sms', idempotency_key: 'k' };
    expect(requestOf('consume', { ...use, quantity: 3 })).toBe(requestOf('consume', { ...use, quantity: '3.0' }));
    expect(requestOf('consume', { ...use, quantity: 3 })).not.toBe(requestOf('consume', { ...use, quantity: 4 }));
    const batch = (q: unknown) => ({ batch_key: 'b', items: [{ ...use, quantity: q }], accepted_at: 'x' });
    expect(requestOf('consume-batch', batch(' 7 '))).toBe(requestOf('consume-batch', batch(7)));
  });
});
