import fc from 'fast-check';
import { v5 as uuidv5 } from 'uuid';
import { describe, expect, it } from 'vitest';
import { consumptionId, isUuid, newId } from '../../src/ids.js';

describe('ids', () => {
  it('a consumption id is the RFC 9562 v5 UUID of (client, idempotency key), identical to the uuid package', () => {
    fc.assert(
      fc.property(fc.uuid(), fc.string({ minLength: 1, maxLength: 255 }), (client, key) => {
        expect(consumptionId(client, key)).toBe(uuidv5(`${client}\n${key}`, '6f1c2a8e-3b5d-4f0e-9a7c-2d4e6f8a0b1c'));
      }),
    );
  });

  it('names the same consumption the same way, and different ones differently', () => {
    expect(consumptionId('c', 'k')).toBe(consumptionId('c', 'k'));
    expect(consumptionId('c', 'k1')).not.toBe(consumptionId('c1', 'k'));
    expect(isUuid(consumptionId('c', 'ключ'))).toBe(true);
  });

  it('new ids are time-ordered UUIDs', () => {
    const ids = Array.from({ length: 100 }, () => newId());
    expect(ids.every(isUuid)).toBe(true);
    expect([...ids].sort()).toEqual(ids);
  });
});
