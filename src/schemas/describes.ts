import type { z } from 'zod';

/**
 * Checks, at compile time, that a response schema describes every value of the type `T` the code
 * answers with (`T` is assignable to the schema's output), so that /openapi.json cannot promise less
 * than the service sends. Usage: `describes<NightlyReport>()(z.object({…}))`; at run time the schema
 * itself is returned.
 */
export const describes =
  <T>() =>
  <S extends z.ZodType>(schema: S & ([T] extends [z.output<S>] ? unknown : never)): S =>
    schema;
