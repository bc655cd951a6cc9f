import { formatMoney, MAX_MINOR, minorDigits } from '../../domain/money.js';
import { asciiDigits } from '../form.js';
import type { Html } from '../html.js';
import type { UiContext } from '../layout.js';

/**
 * An amount typed in major units ("49", "49.5", "0.125") as the digit string of its minor units for the
 * currency ("4900", "4950", "125" for KWD): decimal text shifted by the currency's ISO 4217 digits, never
 * through a float. Undefined when the text is not such an amount (a sign, a letter, more decimals than
 * the currency has): the package form then says so beside the field, the sale form hands the text on for
 * the route to refuse. The one reading of a typed amount for every form.
 *
 * An amount however large is its minor digits, never undefined: handed on as typed, "100000000000000" dollars
 * would be taken by the route as that many cents, a price a hundred times lower than the one typed. Its minor
 * digits are above the largest amount (`amountProblemOf`), which the route refuses.
 */
export function minorFromMajor(text: string, currency: string): string | undefined {
  const match = /^(\d+)(?:\.(\d*))?$|^\.(\d+)$/.exec(asciiDigits(text.trim()));
  if (!match) return undefined;
  const whole = match[1] ?? '0';
  const fraction = match[2] ?? match[3] ?? '';
  const digits = minorDigits(currency);
  if (fraction.length > digits) return undefined;
  return `${whole}${fraction.padEnd(digits, '0')}`.replace(/^0+(?=\d)/, '');
}

/**
 * Why an amount typed in major units is refused in other terms than the route's: it is not an amount of the
 * currency (the route would only say that minor units must be whole), or it is above the largest the service takes
 * (MAX_MINOR: the route states that bound in minor units, a hundred or a thousand times the number that applies).
 */
export type AmountProblem = 'not_an_amount' | 'above_largest';

/** What is wrong with an amount as minorFromMajor read it (its minor digits, or undefined), if anything. */
export const amountProblemOf = (minor: string | undefined): AmountProblem | undefined =>
  minor === undefined ? 'not_an_amount' : BigInt(minor) > MAX_MINOR ? 'above_largest' : undefined;

/**
 * What a form says of it beside the field, in the units the person typed: an example amount with the currency's
 * decimals; the largest amount in the page's digits with the currency's decimals ("10,000,000,000,000.00" USD,
 * "١٬٠٠٠٬٠٠٠٬٠٠٠٬٠٠٠٫٠٠٠" KWD).
 */
export function amountMessage(ctx: Pick<UiContext, 't' | 'fmt'>, problem: AmountProblem, currency: string): Html {
  const digits = minorDigits(currency);
  if (problem === 'above_largest')
    return ctx.t('field.at_most', { bound: ctx.fmt.number(majorFromMinor(MAX_MINOR, currency), digits) });
  return ctx.t('setup.package.amount_invalid', {
    count: digits,
    digits: ctx.fmt.number(digits),
    example: exampleAmount(ctx, digits),
  });
}

/** The amount a form's hint shows as an example: 49 with the currency's decimals ("49.00", "٤٩٫٠٠", JPY "49"). */
export const exampleAmount = (ctx: Pick<UiContext, 'fmt'>, digits = 2): string => ctx.fmt.number('49', digits);

/** Minor units as the major-unit text a form shows ("4900" USD → "49.00"), exact. */
export function majorFromMinor(minor: bigint | number | string, currency: string): string {
  return formatMoney(BigInt(minor), currency).split(' ')[0] ?? '0';
}
