/**
 * Text Postgres can store as it was sent. Two things cannot be: U+0000, which `text` and `jsonb`
 * refuse outright (the statement fails), and lone UTF-16 surrogates (JSON may carry "\ud800"),
 * which have no UTF-8 form and would be stored as U+FFFD — two different idempotency keys
 * becoming one. Every string that reaches the database is held to this, at the edge.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: U+0000 is exactly what this must find
const UNSTORABLE = /[\u0000\p{Cs}]/u;

export const UNSTORABLE_MESSAGE = 'must be well-formed Unicode without the NUL character (U+0000)';

export const isStorableText = (text: string): boolean => !UNSTORABLE.test(text);
