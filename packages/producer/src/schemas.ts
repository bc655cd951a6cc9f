import { z } from 'zod';
import { DOUBLE_EXACT_DIGITS, isExactNumber } from './exact-number.js';
import { isStorableText, UNSTORABLE_MESSAGE } from './storable-text.js';

// The zod pieces the job payloads are made of: the workers and the API validate with the same ones.

/**
 * Text Postgres can store as sent (domain/storable-text.ts). The HTTP edge checks every string of
 * every request (refuse-unstorable-text.ts); the job schemas carry the rule too, because the
 * producer and the workers validate with them without passing through HTTP.
 */
export const storableText = () => z.string().refine(isStorableText, UNSTORABLE_MESSAGE);

/** A credit type, package or client named by its id or its code / external_ref. */
export const refSchema = storableText().trim().min(1, 'is required').max(200);

/**
 * A quantity as it arrives: a JSON number or a decimal string. Its precision is checked against the
 * credit type. A number past 15 significant digits may already be another number than the one that was
 * written (domain/exact-number.ts): it is refused, never rounded — such a quantity is sent as a string.
 * (The API reads those numbers from the body's text and hands them on as strings: json-body.ts.)
 */
export const quantityInput = z
  .union(
    [
      z.number(),
      z
        .string()
        .max(1_000)
        .regex(/^\s*[+-]?(\d+\.?\d*|\.\d+)\s*$/, 'must be a decimal number such as "2.5"'),
    ],
    {
      error: 'must be a decimal number, as a JSON number or a string such as "2.5"',
    },
  )
  .refine((value) => typeof value !== 'number' || isExactNumber(value), {
    error:
      `has more than ${DOUBLE_EXACT_DIGITS} significant digits, more than a JSON number keeps exactly: send it as ` +
      'a decimal string',
  })
  .meta({
    description:
      'Decimal quantity, e.g. "2.5" or 2.5; at most the credit type\'s decimals. Never rounded: a JSON number of ' +
      "more than 15 significant digits is read from the body's text (a job pushed into a queue must send it as " +
      'a string).',
    examples: ['2.5', 100],
  });

/** A decimal quantity's text as quantityInput accepts it: sign, whole digits, fraction digits. */
const DECIMAL_TEXT = /^\s*([+-]?)(\d*)\.?(\d*)\s*$/;

/** DOMAIN.md: a quantity above 10^15 units is refused, whatever its credit type. */
export const MAX_QUANTITY_UNITS = 10n ** 15n;

/**
 * What is wrong with a quantity of a use, a hold, a capture or a recharge's item whatever its credit type (which the
 * producer cannot see): zero, below zero, or more than 10^15 units — in the words domain/quantity.ts answers them.
 * The credit type's decimals (and its tighter bound past 3 decimals) are the worker's to check.
 */
export function quantityBoundProblem(value: number | string): string | undefined {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return undefined;
    if (value < 0) return 'must not be negative';
    if (value === 0) return 'must be greater than zero';
    return value > Number(MAX_QUANTITY_UNITS) ? `must be at most ${MAX_QUANTITY_UNITS}` : undefined;
  }
  // zod runs this refinement even where quantityInput refused the value (another type, text of another pattern):
  // that refusal is enough
  if (typeof value !== 'string') return undefined;
  const match = DECIMAL_TEXT.exec(value);
  const [, sign, whole = '', fraction = ''] = match ?? [];
  if (whole + fraction === '') return undefined;
  if (!/[1-9]/.test(whole + fraction)) return 'must be greater than zero';
  if (sign === '-') return 'must not be negative';
  const units = BigInt(whole || '0');
  return units > MAX_QUANTITY_UNITS || (units === MAX_QUANTITY_UNITS && /[1-9]/.test(fraction))
    ? `must be at most ${MAX_QUANTITY_UNITS}`
    : undefined;
}

/** A quantity that must be above zero and at most 10^15 units: a use's, a hold's, a capture's, a recharge item's. */
export const positiveQuantityInput = quantityInput.superRefine((value, ctx) => {
  const problem = quantityBoundProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** Keys that would poison a plain object if copied carelessly; refused wherever free-form JSON is accepted. */
export const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Checks free-form JSON without recursion (a hostile body may nest a hundred thousand levels):
 * depth, number of values, and keys that are never accepted. Answers the first problem found.
 */
export function jsonShapeProblem(value: unknown, limits: { maxDepth: number; maxNodes: number }): string | undefined {
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  let nodes = 0;
  while (stack.length > 0) {
    const { value: current, depth } = stack.pop()!;
    nodes += 1;
    if (nodes > limits.maxNodes) return `has more than ${limits.maxNodes} values`;
    if (depth > limits.maxDepth) return `nests deeper than ${limits.maxDepth} levels`;
    if (Array.isArray(current)) {
      for (const item of current) stack.push({ value: item, depth: depth + 1 });
    } else if (typeof current === 'string') {
      if (!isStorableText(current)) return UNSTORABLE_MESSAGE;
    } else if (current !== null && typeof current === 'object') {
      for (const [key, item] of Object.entries(current)) {
        if (FORBIDDEN_KEYS.has(key)) return `may not use the key "${key}"`;
        if (!isStorableText(key)) return `keys ${UNSTORABLE_MESSAGE}`;
        stack.push({ value: item, depth: depth + 1 });
      }
    }
  }
  return undefined;
}

/**
 * A free-form JSON object (metadata, report params), bounded in depth, size and keys. Checked on
 * the object exactly as JSON.parse made it, before anything copies it: copying a `__proto__` key
 * into a fresh object would silently turn it into that object's prototype.
 */
export const boundedObject = (limits: { maxKeys: number; maxDepth: number; maxNodes: number; maxBytes: number }) =>
  z
    .custom<Record<string, unknown>>((value) => value !== null && typeof value === 'object' && !Array.isArray(value), {
      message: 'must be a JSON object',
    })
    .superRefine((value, ctx) => {
      const keys = Object.keys(value);
      if (keys.length > limits.maxKeys) {
        ctx.addIssue({ code: 'custom', message: `at most ${limits.maxKeys} keys` });
        return;
      }
      if (keys.some((k) => k.length > 100)) {
        ctx.addIssue({ code: 'custom', message: 'keys are at most 100 characters' });
        return;
      }
      const problem = jsonShapeProblem(value, limits);
      if (problem) {
        ctx.addIssue({ code: 'custom', message: problem });
        return;
      }
      // safe to serialise now: the depth is bounded
      if (JSON.stringify(value).length > limits.maxBytes)
        ctx.addIssue({ code: 'custom', message: `at most ${Math.round(limits.maxBytes / 1024)} KiB of JSON` });
    })
    .meta({
      type: 'object',
      description:
        `A JSON object: at most ${limits.maxKeys} keys, ${limits.maxDepth} levels deep, ` +
        `${Math.round(limits.maxBytes / 1024)} KiB.`,
    });

export const metadataSchema = boundedObject({ maxKeys: 50, maxDepth: 8, maxNodes: 1_000, maxBytes: 16_384 });
