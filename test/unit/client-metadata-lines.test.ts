import { describe, expect, it } from 'vitest';
import { metadataSchema } from '../../src/schemas/common.js';
import { metadataFromLines } from '../../src/ui/pages/client-form.js';

/**
 * The client form's metadata lines (`key=value`) are handed to POST/PATCH /v1/clients, whose schema refuses the keys
 * that would poison an object (`__proto__`, `constructor`, `prototype`) beside the field. A line `__proto__=x` was
 * assigned to a plain object — the prototype setter, which ignores a text — and vanished: the client was saved
 * without it and the form said "created". Every line's key reaches the route as typed.
 */
describe('metadataFromLines keeps every key typed, for the route to judge', () => {
  it('a __proto__ line stays an own key of the metadata (and changes no prototype)', () => {
    const metadata = metadataFromLines('tier=gold\n__proto__=x');
    expect(metadata).toBeDefined();
    expect(Object.keys(metadata!)).toEqual(['tier', '__proto__']);
    expect(Object.getOwnPropertyDescriptor(metadata, '__proto__')?.value).toBe('x');
    expect(Object.getPrototypeOf(metadata)).toBe(Object.prototype);
    expect(JSON.stringify(metadata)).toBe('{"tier":"gold","__proto__":"x"}');
    // what the route then answers beside the metadata field
    expect(metadataSchema.safeParse(metadata).error?.issues[0]?.message).toBe('may not use the key "__proto__"');
    // a later line of the same key still replaces an earlier one, as before
    expect(metadataFromLines('tier=gold\ntier=silver')).toEqual({ tier: 'silver' });
  });
});
