import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isExactNumber, isExactNumberText, plainDecimal, significantDigits } from '../../src/domain/exact-number.js';
import { mayHoldInexactNumber, parseExactJson } from '../../src/http/json-body.js';
import { JOBS } from '../../src/jobs/definitions.js';

/** A decimal written one way only: no exponent, no leading or trailing zeros. */
function canonical(text: string): string {
  const [whole = '', fraction = ''] = plainDecimal(text).split('.');
  const rest = fraction.replace(/0+$/, '');
  return `${whole.replace(/^0+(?=\d)/, '')}${rest ? `.${rest}` : ''}`;
}

describe('DOMAIN "Quantities are never rounded, JSON numbers included": what a double keeps exactly', () => {
  it.each<[string, number]>([
    ['0', 0],
    ['-0.000', 0],
    ['2.50', 2],
    ['100', 1],
    ['1000000000000', 1],
    ['999999999999.9999', 16],
    ['12345678901234.5678', 18],
    ['1.25e3', 3],
    ['0.000123', 3],
  ])('%s has %i significant digits', (text, digits) => {
    expect(significantDigits(text)).toBe(digits);
  });

  it.each<[string, boolean]>([
    ['2.5', true],
    ['123456789012345', true], // 15 digits
    ['123456789012.345', true],
    ['9007199254740991', true], // a safe integer: every one is a double
    ['-9007199254740991', true],
    ['100000000000000000000', true], // 1e20: one significant digit
    ['1e21', true],
    ['999999999999.9999', false], // the issue's example: JSON.parse makes it 1000000000000
    ['12345678901234.5678', false],
    ['0.1000000000000001', false],
    ['9007199254740993', false],
    ['99999999999999999999', false],
    ['999999999999999.99', false], // money: JSON.parse makes it 10^15
    ['1e400', false], // overflows
    ['1e-400', false], // underflows to 0
    ['0e5', true],
  ])('%s survives a double: %s', (text, exact) => {
    expect(isExactNumberText(text)).toBe(exact);
  });

  it('a number read as a double is trusted when its shortest text has at most 15 significant digits', () => {
    expect(isExactNumber(2.5)).toBe(true);
    expect(isExactNumber(1e12)).toBe(true);
    expect(isExactNumber(9007199254740991)).toBe(true);
    expect(isExactNumber(0.1 + 0.2)).toBe(false);
    expect(isExactNumber(12345678901234.568)).toBe(false);
    expect(isExactNumber(Number.POSITIVE_INFINITY)).toBe(false);
    expect(isExactNumber(Number.NaN)).toBe(false);
  });

  it('every decimal of up to 15 significant digits comes back from its double as written', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 10n ** 15n - 1n }), fc.integer({ min: 0, max: 15 }), (digits, scale) => {
        const text = digits.toString().padStart(scale + 1, '0');
        const decimal = scale === 0 ? text : `${text.slice(0, -scale)}.${text.slice(-scale)}`;
        expect(isExactNumberText(decimal)).toBe(true);
        expect(canonical(String(Number(decimal)))).toBe(canonical(decimal));
      }),
    );
  });

  it.each<[string, string]>([
    ['1.25e3', '1250'],
    ['5e-3', '0.005'],
    ['-1.5E+2', '-150'],
    ['12e0', '12'],
    ['1234567890123456789e-4', '123456789012345.6789'],
    ['2.5', '2.5'],
  ])('%s is handed on as the plain decimal %s', (text, plain) => {
    expect(plainDecimal(text)).toBe(plain);
  });
});

describe('the JSON body: JSON.parse, unless a number would be rounded', () => {
  const scan = (text: string) => mayHoldInexactNumber(Buffer.from(text, 'utf8'));

  it('the scan lets ordinary bodies through to JSON.parse, digits inside strings included', () => {
    expect(scan('{"client":"crm-42","credit_type":"sms","quantity":3,"idempotency_key":"msg-1"}')).toBe(false);
    expect(scan('{"quantity":"999999999999.9999"}')).toBe(false);
    expect(scan('{"key":"12345678901234567890","ref":"a\\"1234567890123456789"}')).toBe(false);
    expect(scan('{"quantity":123456789012.345,"ok":true,"none":null,"no":false}')).toBe(false);
  });

  it('the scan flags a number of more than 15 digits, or one with an exponent', () => {
    expect(scan('{"quantity":999999999999.9999}')).toBe(true);
    expect(scan('[1,2,12345678901234567]')).toBe(true);
    expect(scan('{"q":1e-400}')).toBe(true);
    expect(scan('{"k":"\\\\","q":1234567890123456}')).toBe(true); // an escaped backslash ends the string
  });

  it('reads a flagged body with its inexact numbers as exact decimal strings, and the rest as JSON.parse would', () => {
    const text =
      '{"quantity":999999999999.9999,"exact":12345678901234.5678,"small":2.5,"big":1.5e300,' +
      '"tiny":1e-400,"id":9007199254740991,"a":[0.1000000000000001,true,null],"s":"x","d":1,"d":2}';
    expect(parseExactJson(text)).toEqual({
      quantity: '999999999999.9999',
      exact: '12345678901234.5678',
      small: 2.5,
      big: 1.5e300,
      tiny: `0.${'0'.repeat(399)}1`,
      id: 9007199254740991,
      a: ['0.1000000000000001', true, null],
      s: 'x',
      d: 2,
    });
    // a __proto__ key stays an own key, as with JSON.parse, so the schemas still see and refuse it
    const poisoned = parseExactJson('{"__proto__":{"x":12345678901234567}}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(poisoned)).toBe(Object.prototype);
    expect(Object.keys(poisoned)).toEqual(['__proto__']);
  });
});

describe('jobs pushed straight into BullMQ: the job schema refuses a quantity no double holds exactly', () => {
  const use = { client: 'crm-42', credit_type: 'sms', idempotency_key: 'k-1' };

  it('a number past 15 significant digits is refused with a message that says to send a string', () => {
    const refused = JOBS.consume.schema.safeParse({ ...use, quantity: 12345678901234.568 });
    expect(refused.success).toBe(false);
    expect(refused.error?.issues).toEqual([
      expect.objectContaining({ path: ['quantity'], message: expect.stringMatching(/send it as a decimal string/) }),
    ]);
    const sum = JOBS.recharge.schema.safeParse({
      subscription_id: '01a2373c-26f5-72f8-9a7c-298b64806e73',
      idempotency_key: 'r-1',
      items: [{ credit_type: 'sms', units: 0.1 + 0.2 }],
    });
    expect(sum.success).toBe(false);
  });

  it('the same quantity as a string, and an ordinary number, are accepted as they are', () => {
    expect(JOBS.consume.schema.parse({ ...use, quantity: '12345678901234.5678' }).quantity).toBe('12345678901234.5678');
    expect(JOBS.consume.schema.parse({ ...use, quantity: 2.5 }).quantity).toBe(2.5);
  });
});
