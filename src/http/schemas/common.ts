import { z } from 'zod';
import { MAX_MINOR } from '../../domain/money.js';

/** A credit type, package or client named by its id or its code / external_ref. */
export const refSchema = z.string().trim().min(1, 'is required').max(200);

/** A quantity as it arrives: a JSON number or a decimal string. Its precision is checked against the credit type. */
export const quantityInput = z
  .union([z.number(), z.string().max(1_000).regex(/^\s*[+-]?(\d+\.?\d*|\.\d+)\s*$/, 'must be a decimal number such as "2.5"')], {
    error: 'must be a decimal number, as a JSON number or a string such as "2.5"',
  })
  .meta({ description: 'Decimal quantity, e.g. "2.5" or 2.5; at most the credit type\'s decimals.', examples: ['2.5', 100] });

/** Minor units of a currency (1250 = 12.50 USD), as an integer or a digit string. */
export const moneyInput = z
  .union([z.number().int().min(0).max(Number(MAX_MINOR)), z.string().regex(/^\d{1,16}$/, 'must be a whole number of minor units')], {
    error: 'must be an integer number of minor units (e.g. 1250 for 12.50)',
  })
  .transform((v) => BigInt(v))
  .refine((v) => v <= MAX_MINOR, `must be at most ${MAX_MINOR}`)
  .meta({ description: 'Amount in the currency\'s minor units (1250 = 12.50 USD).', examples: [1250] });

export const codeSchema = z
  .string()
  .trim()
  .regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/, 'must be 1–64 characters of a-z, 0-9, "_", "-", "." starting with a letter or digit');

export const nameSchema = z.string().trim().min(1, 'is required').max(200);

export const metadataSchema = z
  .record(z.string().max(100), z.unknown())
  .refine((m) => Object.keys(m).length <= 50, 'at most 50 keys')
  .refine((m) => JSON.stringify(m).length <= 16_384, 'at most 16 KiB of JSON');

export const timestampSchema = z.iso.datetime({ offset: true, error: 'must be an RFC 3339 time such as 2026-01-31T00:00:00Z' }).transform((s) => new Date(s));

export const idParams = z.object({ id: z.string().trim().min(1).max(200) });

export const pageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(500).optional(),
});

/** `?wait=true` on the job endpoints. */
export const waitQuery = z.object({
  wait: z
    .enum(['true', 'false', '1', '0'])
    .optional()
    .transform((v) => v === 'true' || v === '1'),
});

export const listOf = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item), next_cursor: z.string().nullable() });

/** Keys that would poison a plain object if copied carelessly; refused wherever free-form JSON is accepted. */
export const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
