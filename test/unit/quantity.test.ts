import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalQuantity,
  formatQuantity,
  MAX_DECIMALS,
  MAX_SCALED,
  MAX_UNITS,
  maxScaled,
  maxScaledFor,
  minScaled,
  parseQuantity,
  percentOf,
  type QuantityOptions,
  type QuantityProblem,
  quantityProblemMessage,
  sumScaled,
} from '../../src/domain/quantity.js';

const DECIMALS = [0, 1, 2, 3, 4, 5, 6] as const;

function expectRefused(
  input: unknown,
  decimals: number,
  problem: QuantityProblem,
  options: QuantityOptions = {},
): void {
  const result = parseQuantity(input, decimals, options);
  expect(result.ok).toBe(false);
  expect(result.problem).toBe(problem);
  if (!result.ok) {
    expect(result.code).toBe('validation_failed');
    expect(result.detail).toBe(quantityProblemMessage(problem, decimals, options));
  }
}

describe(
  'DOMAIN "Quantities": a quantity is exact, a bigint of scaled units ' +
    '(units × 10^decimals); the API accepts a JSON number or a decimal string',
  () => {
    it.each<{ input: unknown; decimals: number; scaled: bigint }>([
      { input: '2.5', decimals: 3, scaled: 2500n },
      { input: 2.5, decimals: 3, scaled: 2500n },
      { input: '2.5', decimals: 1, scaled: 25n },
      { input: '100', decimals: 0, scaled: 100n },
      { input: 100, decimals: 0, scaled: 100n },
      { input: '100', decimals: 2, scaled: 10000n },
      { input: '.5', decimals: 1, scaled: 5n },
      { input: '0.5', decimals: 2, scaled: 50n },
      { input: '2.50', decimals: 1, scaled: 25n },
      { input: '2.500000', decimals: 1, scaled: 25n },
      { input: '100.000', decimals: 0, scaled: 100n },
      { input: '  2.5\t', decimals: 2, scaled: 250n },
      { input: '007', decimals: 0, scaled: 7n },
      { input: '0.000001', decimals: 6, scaled: 1n },
      { input: 0.000001, decimals: 6, scaled: 1n },
      { input: 1e-6, decimals: 6, scaled: 1n },
      { input: 0.25, decimals: 6, scaled: 250000n },
      { input: 42n, decimals: 2, scaled: 4200n },
    ])('parses $input with $decimals decimals as $scaled', ({ input, decimals, scaled }) => {
      expect(parseQuantity(input, decimals)).toEqual({ ok: true, value: scaled });
    });

    it('a JSON number and the same decimal string give the same quantity', () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 10 ** 9 }), fc.integer({ min: 0, max: 3 }), (n, shift) => {
          const value = n / 10 ** shift; // at most 3 fractional digits, exactly representable as a shortest string
          const fromNumber = parseQuantity(value, 6);
          const fromString = parseQuantity(String(value), 6);
          expect(fromNumber).toEqual(fromString);
          expect(fromNumber).toEqual({ ok: true, value: BigInt(n) * 10n ** BigInt(6 - shift) });
        }),
      );
    });

    it('refuses a decimals setting outside 0..6', () => {
      expect(MAX_DECIMALS).toBe(6);
      for (const decimals of [-1, 7, 1.5, Number.NaN]) {
        expect(() => parseQuantity('1', decimals)).toThrow(RangeError);
      }
    });
  },
);

describe(
  'DOMAIN "Quantities": a negative, zero, NaN, too many fractional ' +
    'digits or a value above 10^15 is a 422, never rounded',
  () => {
    describe('negative', () => {
      it.each<[unknown, number]>([
        ['-1', 0],
        [-1, 0],
        ['-2.5', 1],
        [-2.5, 3],
        ['-0.000001', 6],
        ['  -7 ', 2],
      ])('refuses %o (decimals %i) as negative', (input, decimals) => {
        expectRefused(input, decimals, 'negative');
      });
    });

    describe('zero', () => {
      it.each<[unknown, number]>([
        ['0', 0],
        [0, 2],
        [-0, 2],
        ['-0', 0],
        ['0.000', 3],
        ['.0', 1],
        ['000', 0],
        [0n, 0],
      ])('refuses %o (decimals %i) as zero', (input, decimals) => {
        expectRefused(input, decimals, 'zero');
      });
    });

    describe('NaN and garbage', () => {
      it.each<[string, unknown]>([
        ['NaN number', Number.NaN],
        ['Infinity', Number.POSITIVE_INFINITY],
        ['-Infinity', Number.NEGATIVE_INFINITY],
        ['"NaN"', 'NaN'],
        ['"Infinity"', 'Infinity'],
        ['empty string', ''],
        ['blank string', '   '],
        ['a lone point', '.'],
        ['letters', 'abc'],
        ['trailing garbage', '2.5abc'],
        ['two points', '1.2.3'],
        ['a decimal comma', '1,5'],
        ['hex', '0x10'],
        ['double sign', '--1'],
        ['inner space', '1 000'],
        ['null', null],
        ['undefined', undefined],
        ['boolean', true],
        ['object', { value: 1 }],
        ['array', [1]],
      ])('refuses %s', (_label, input) => {
        expectRefused(input, 2, 'not_a_number');
      });
    });

    describe('a string must be plain decimal: exponent strings are refused', () => {
      it.each(['1e3', '2.5E2', '1e-7', '1e+2', '1E0', '.5e1'])('refuses %s', (input) => {
        expectRefused(input, 6, 'not_a_number');
      });
    });

    describe('a JSON number in exponent form is read exactly', () => {
      it('1e-7 has 7 fractional digits: too many even for 6 decimals', () => {
        expect(String(1e-7)).toBe('1e-7');
        expectRefused(1e-7, 6, 'too_many_decimals');
      });

      it('1.5e-7 has 8 fractional digits', () => {
        expectRefused(1.5e-7, 6, 'too_many_decimals');
      });

      it('1e21 is too large, not garbage', () => {
        expect(String(1e21)).toBe('1e+21');
        expectRefused(1e21, 0, 'too_large');
      });

      it('0.1 + 0.2 is not rounded to 0.3', () => {
        expectRefused(0.1 + 0.2, 6, 'too_many_decimals');
      });
    });

    describe('more fractional digits than the credit type allows', () => {
      it.each(DECIMALS.map((d) => [d, `1.${'0'.repeat(d)}1`] as const))('decimals %i refuses %s', (decimals, input) => {
        expectRefused(input, decimals, 'too_many_decimals');
        // ...while exactly `decimals` digits are fine
        const fine = decimals === 0 ? '2' : `1.${'0'.repeat(decimals - 1)}1`;
        expect(parseQuantity(fine, decimals)).toEqual({ ok: true, value: 10n ** BigInt(decimals) + 1n });
      });

      it.each<[number, number]>([
        [0.5, 0],
        [2.25, 1],
        [0.125, 2],
        [0.0001, 3],
      ])('refuses the JSON number %d with %i decimals', (input, decimals) => {
        expectRefused(input, decimals, 'too_many_decimals');
      });
    });

    describe('above 10^15 units (decimals 0..3)', () => {
      it.each([0, 1, 2, 3])('decimals %i: 10^15 is the largest accepted', (decimals) => {
        expect(parseQuantity('1000000000000000', decimals)).toEqual({
          ok: true,
          value: MAX_UNITS * 10n ** BigInt(decimals),
        });
        const justAbove = decimals === 0 ? '1000000000000001' : `1000000000000000.${'0'.repeat(decimals - 1)}1`;
        expectRefused(justAbove, decimals, 'too_large');
        expectRefused('10000000000000000', decimals, 'too_large');
      });

      it('the JSON number 10^15 is accepted, 10^15 + 1 refused', () => {
        expect(parseQuantity(1e15, 0)).toEqual({ ok: true, value: 10n ** 15n });
        expectRefused(1e15 + 1, 0, 'too_large');
      });
    });

    describe('the scaled cap MAX_SCALED = 10^18 (decimals 4..6)', () => {
      it.each([4, 5, 6])('decimals %i: 10^(18-d) units is the largest accepted', (decimals) => {
        const maxUnits = 10n ** BigInt(18 - decimals);
        expect(maxScaledFor(decimals)).toBe(MAX_SCALED);
        expect(parseQuantity(maxUnits.toString(), decimals)).toEqual({ ok: true, value: MAX_SCALED });
        expectRefused(`${maxUnits}.${'0'.repeat(decimals - 1)}1`, decimals, 'too_large');
        expectRefused('1000000000000000', decimals, 'too_large'); // 10^15 units would not fit a bigint column
      });

      it.each<[number, bigint]>([
        [0, 10n ** 15n],
        [1, 10n ** 16n],
        [2, 10n ** 17n],
        [3, 10n ** 18n],
        [4, 10n ** 18n],
        [5, 10n ** 18n],
        [6, 10n ** 18n],
      ])('maxScaledFor(%i) = %s', (decimals, max) => {
        expect(maxScaledFor(decimals)).toBe(max);
      });

      it('the message names the largest accepted quantity', () => {
        expect(quantityProblemMessage('too_large', 6)).toBe('must be at most 1000000000000');
        expect(quantityProblemMessage('too_large', 0)).toBe('must be at most 1000000000000000');
      });
    });
  },
);

describe('parseQuantity options: allowZero (adjustment targets) and allowNegative (adjustment deltas)', () => {
  it.each<{
    input: unknown;
    decimals: number;
    options: { allowZero?: boolean; allowNegative?: boolean };
    scaled: bigint;
  }>([
    { input: '0', decimals: 2, options: { allowZero: true }, scaled: 0n },
    { input: 0, decimals: 0, options: { allowZero: true }, scaled: 0n },
    { input: '0.00', decimals: 2, options: { allowZero: true }, scaled: 0n },
    { input: '-2.5', decimals: 1, options: { allowNegative: true }, scaled: -25n },
    { input: -3, decimals: 2, options: { allowNegative: true }, scaled: -300n },
    { input: '-0', decimals: 0, options: { allowZero: true, allowNegative: true }, scaled: 0n },
    { input: '2.5', decimals: 1, options: { allowZero: true, allowNegative: true }, scaled: 25n },
  ])('accepts $input with $options', ({ input, decimals, options, scaled }) => {
    expect(parseQuantity(input, decimals, options)).toEqual({ ok: true, value: scaled });
  });

  it.each<{
    input: unknown;
    decimals: number;
    options: { allowZero?: boolean; allowNegative?: boolean };
    problem: QuantityProblem;
  }>([
    { input: '-1', decimals: 0, options: { allowZero: true }, problem: 'negative' },
    { input: '0', decimals: 0, options: { allowNegative: true }, problem: 'zero' },
    { input: '-1.25', decimals: 1, options: { allowNegative: true }, problem: 'too_many_decimals' },
    { input: '-1000000000000001', decimals: 0, options: { allowNegative: true }, problem: 'too_large' },
    { input: '0.001', decimals: 2, options: { allowZero: true }, problem: 'too_many_decimals' },
    { input: 'abc', decimals: 2, options: { allowZero: true, allowNegative: true }, problem: 'not_a_number' },
  ])('still refuses $input with $options as $problem', ({ input, decimals, options, problem }) => {
    expectRefused(input, decimals, problem, options);
  });
});

describe('formatQuantity: the API speaks decimal strings, trailing zeros trimmed', () => {
  it.each<[bigint, number, string]>([
    [2500n, 3, '2.5'],
    [25n, 1, '2.5'],
    [100n, 0, '100'],
    [10000n, 2, '100'],
    [1n, 6, '0.000001'],
    [123456n, 2, '1234.56'],
    [0n, 3, '0'],
    [-25n, 1, '-2.5'],
    [-7n, 0, '-7'],
    [-1n, 6, '-0.000001'],
    [10n ** 18n, 6, '1000000000000'],
    [10n ** 15n, 0, '1000000000000000'],
  ])('formatQuantity(%s, %i) = %s', (scaled, decimals, text) => {
    expect(formatQuantity(scaled, decimals)).toBe(text);
  });

  const scaledWithDecimals = fc
    .integer({ min: 0, max: 6 })
    .chain((decimals) => fc.tuple(fc.constant(decimals), fc.bigInt({ min: 1n, max: maxScaledFor(decimals) })));

  it('round-trips: parseQuantity(formatQuantity(x, d), d) === x for 0 < x <= max', () => {
    fc.assert(
      fc.property(scaledWithDecimals, ([decimals, scaled]) => {
        expect(parseQuantity(formatQuantity(scaled, decimals), decimals)).toEqual({ ok: true, value: scaled });
      }),
      { numRuns: 500 },
    );
  });

  it('round-trips negatives with allowNegative', () => {
    fc.assert(
      fc.property(scaledWithDecimals, ([decimals, scaled]) => {
        expect(parseQuantity(formatQuantity(-scaled, decimals), decimals, { allowNegative: true })).toEqual({
          ok: true,
          value: -scaled,
        });
      }),
    );
  });

  it('never writes more than `decimals` fractional digits, nor a trailing zero after the point', () => {
    fc.assert(
      fc.property(scaledWithDecimals, ([decimals, scaled]) => {
        const text = formatQuantity(scaled, decimals);
        expect(text).toMatch(/^\d+(\.\d*[1-9])?$/);
        const fraction = text.split('.')[1] ?? '';
        expect(fraction.length).toBeLessThanOrEqual(decimals);
      }),
    );
  });
});

describe('percentOf: floor(value × percent / 100), exact', () => {
  it.each<[bigint, number, bigint]>([
    [1000n, 20, 200n],
    [999n, 10, 99n],
    [7n, 50, 3n],
    [1n, 99, 0n],
    [0n, 50, 0n],
    [5n, 0, 0n],
    [100n, 100, 100n],
    [3n, 150, 4n],
    [10n ** 18n, 33, 33n * 10n ** 16n],
  ])('percentOf(%s, %i) = %s', (value, percent, expected) => {
    expect(percentOf(value, percent)).toBe(expected);
  });

  it.each([-1, 1.5, Number.NaN])('refuses percent %d', (percent) => {
    expect(() => percentOf(100n, percent)).toThrow(RangeError);
  });

  it('is the floor for any non-negative value and percent', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: MAX_SCALED }), fc.integer({ min: 0, max: 1000 }), (value, percent) => {
        const share = percentOf(value, percent);
        expect(share * 100n).toBeLessThanOrEqual(value * BigInt(percent));
        expect((share + 1n) * 100n).toBeGreaterThan(value * BigInt(percent));
      }),
    );
  });
});

describe('scaled helpers', () => {
  it('minScaled, maxScaled and sumScaled are exact on bigints', () => {
    expect(minScaled(3n, -2n)).toBe(-2n);
    expect(maxScaled(3n, -2n)).toBe(3n);
    expect(sumScaled([MAX_SCALED, MAX_SCALED, 1n])).toBe(2n * 10n ** 18n + 1n);
    expect(sumScaled([])).toBe(0n);
  });
});

describe('long inputs', () => {
  it('reads a long string exactly: "2.5" padded with zeros is 2.5', () => {
    const result = parseQuantity(`2.5${'0'.repeat(62)}`, 1);
    expect(result.ok && result.value).toBe(25n);
  });

  it('refuses absurdly long strings without parsing them', () => {
    const result = parseQuantity('9'.repeat(1_001), 0);
    expect(result.ok).toBe(false);
    expect(result.problem).toBe('too_large');
  });
});

describe('percentOf', () => {
  it('takes non-negative values only', () => {
    expect(() => percentOf(-5n, 50)).toThrow(RangeError);
  });
});

describe('canonicalQuantity', () => {
  it('one text per number, however it is written: what two refused uses under one key are compared by', () => {
    expect(new Set([1, '1', '1.0', '01', ' 1.000 '].map(canonicalQuantity))).toEqual(new Set(['1']));
    expect(new Set([0.5, '0.5', '0.50', '.5'].map(canonicalQuantity))).toEqual(new Set(['5e-1']));
    expect(canonicalQuantity(1e-7)).toBe(canonicalQuantity('0.0000001'));
    expect(canonicalQuantity(1e21)).toBe(canonicalQuantity('1000000000000000000000'));
    expect(canonicalQuantity(1.5)).not.toBe(canonicalQuantity(15));
    expect(canonicalQuantity('abc')).not.toBe(canonicalQuantity('0'));
  });

  it('reads a number as parseQuantity does: equal texts at any precision it accepts are equal scaled units', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000_000 }), fc.integer({ min: 0, max: 6 }), (units, shift) => {
        const text = (units / 10 ** shift).toFixed(shift);
        const scaled = parseQuantity(text, MAX_DECIMALS);
        const fromNumber = parseQuantity(Number(text), MAX_DECIMALS);
        if (scaled.ok && fromNumber.ok && scaled.value === fromNumber.value)
          expect(canonicalQuantity(text)).toBe(canonicalQuantity(Number(text)));
      }),
    );
  });
});
