import { storableText } from '@credits/producer/schemas';
import { z } from 'zod';
import { MAX_MINOR } from '../domain/money.js';

// what the job payloads are made of lives in the producer package (packages/producer)
export {
  boundedObject,
  FORBIDDEN_KEYS,
  jsonShapeProblem,
  metadataSchema,
  quantityInput,
  refSchema,
  storableText,
} from '@credits/producer/schemas';

/** Minor units of a currency (1250 = 12.50 USD), as an integer or a digit string. */
export const moneyInput = z
  .union(
    [
      z.number().int().min(0).max(Number(MAX_MINOR)),
      z.string().regex(/^\d{1,16}$/, 'must be a whole number of minor units'),
    ],
    {
      error: 'must be an integer number of minor units (e.g. 1250 for 12.50)',
    },
  )
  .transform((v) => BigInt(v))
  .refine((v) => v <= MAX_MINOR, `must be at most ${MAX_MINOR}`)
  .meta({ description: "Amount in the currency's minor units (1250 = 12.50 USD).", examples: [1250] });

export const codeSchema = z
  .string()
  .trim()
  .regex(
    /^[a-z0-9][a-z0-9_.-]{0,63}$/,
    'must be 1–64 characters of a-z, 0-9, "_", "-", "." starting with a letter or digit',
  );

export const nameSchema = storableText().trim().min(1, 'is required').max(200);

export const timestampSchema = z.iso
  .datetime({ offset: true, error: 'must be an RFC 3339 time such as 2026-01-31T00:00:00Z' })
  .transform((s) => new Date(s));

/**
 * The longest reason a person gives for an action (a void, a cancel, a reversal, an adjustment): the routes' limit,
 * which the pages' fields state too (maxlength), so that the two never disagree.
 */
export const REASON_MAX_LENGTH = 500;

export const idParams = z.object({ id: storableText().trim().min(1).max(200) });

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

export const listOf = <T extends z.ZodType>(item: T) =>
  z.object({ data: z.array(item), next_cursor: z.string().nullable() });

/** A field a PATCH cannot change: its refusal names the field and why, not "an unknown member of the body". */
export const fixed = (why: string) =>
  z
    .never({ error: `never changes: ${why}` })
    .optional()
    .meta({ description: `Never changes (${why}): giving it is refused.` });
