import { v5 as uuidv5, v7 as uuidv7, validate as uuidValidate } from 'uuid';

/** Time-ordered ids: new rows land at the right end of their indexes, and ids sort by creation. */
export const newId = (): string => uuidv7();

export const isUuid = (value: string): boolean => uuidValidate(value);

const CONSUMPTION_NAMESPACE = '6f1c2a8e-3b5d-4f0e-9a7c-2d4e6f8a0b1c';

/**
 * A consumption's id is derived from what makes it unique, (client, idempotency_key), so the API,
 * the producer and the worker all name the same consumption without asking each other.
 */
export const consumptionId = (clientId: string, idempotencyKey: string): string =>
  uuidv5(`${clientId}\n${idempotencyKey}`, CONSUMPTION_NAMESPACE);
