import { hash } from 'node:crypto';
import { parse as uuidParse, validate as uuidValidate, v7 as uuidv7 } from 'uuid';

/** Time-ordered ids: new rows land at the right end of their indexes, and ids sort by creation. */
export const newId = (): string => uuidv7();

export const isUuid = (value: string): boolean => uuidValidate(value);

const CONSUMPTION_NAMESPACE = uuidParse('6f1c2a8e-3b5d-4f0e-9a7c-2d4e6f8a0b1c');

/** Where uuidV5 lays out namespace + name: one buffer reused, a name too long for it gets its own. */
let nameBuffer = Buffer.alloc(4_096);

/**
 * RFC 9562 version 5 (SHA-1, name-based) UUID, computed straight with node:crypto: it runs once for
 * every consumption on the hot path, so it hashes with the one-shot `hash` (no Hash object) over a
 * buffer it reuses.
 */
function uuidV5(name: string, namespace: Uint8Array): string {
  // a UTF-16 code unit takes at most 3 bytes of UTF-8
  if (namespace.length + name.length * 3 > nameBuffer.length) nameBuffer = Buffer.alloc(name.length * 6);
  nameBuffer.set(namespace, 0);
  const length = namespace.length + nameBuffer.write(name, namespace.length, 'utf8');
  const bytes = hash('sha1', nameBuffer.subarray(0, length), 'buffer');
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex', 0, 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/**
 * A consumption's id is derived from what makes it unique, (client, idempotency_key), so the API,
 * the producer and the worker all name the same consumption without asking each other.
 */
export const consumptionId = (clientId: string, idempotencyKey: string): string =>
  uuidV5(`${clientId}\n${idempotencyKey}`, CONSUMPTION_NAMESPACE);

const HOLD_NAMESPACE = uuidParse('a4d8e2c1-7b3f-4e6a-8c5d-1f9b0e2a4c6d');

/** A hold's id, derived like a consumption's from (client, idempotency_key): holds have their own key space. */
export const holdId = (clientId: string, idempotencyKey: string): string =>
  uuidV5(`${clientId}\n${idempotencyKey}`, HOLD_NAMESPACE);
