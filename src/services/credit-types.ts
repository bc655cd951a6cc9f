import type { Executor } from '../db/knex.js';
import {
  type CreditTypeRow,
  findCreditType,
  insertCreditTypeIfCodeFree,
  updateCreditType,
} from '../db/repositories/credit-types.js';
import { fail, ok, type Result } from '../domain/result.js';
import { newId } from '../ids.js';

export interface CreateCreditTypeInput {
  code: string;
  name: string;
  unit: string;
  decimals: number;
  dimensions?: string[] | undefined;
}

export async function createCreditType(
  db: Executor,
  input: CreateCreditTypeInput,
  now: Date,
): Promise<Result<CreditTypeRow>> {
  const row: CreditTypeRow = {
    id: newId(),
    ...input,
    dimensions: input.dimensions ?? [],
    archived: false,
    created_at: now,
    updated_at: now,
  };
  const inserted = await insertCreditTypeIfCodeFree(db, row);
  if (!inserted)
    return fail('conflict', `a credit type with code "${input.code}" exists already`, {
      errors: [{ field: 'code', message: 'is taken' }],
    });
  return ok(inserted);
}

export interface PatchCreditTypeInput {
  name?: string | undefined;
  unit?: string | undefined;
  archived?: boolean | undefined;
  /**
   * Replaces the declared keys. Consumptions keep the values they were written with: a key added later
   * groups earlier uses under "(none)".
   */
  dimensions?: string[] | undefined;
}

/**
 * `code` and `decimals` never change: codes are how other systems name the type, and scaled units depend on decimals.
 */
export async function patchCreditType(
  db: Executor,
  ref: string,
  patch: PatchCreditTypeInput,
  now: Date,
): Promise<Result<CreditTypeRow>> {
  const existing = await findCreditType(db, ref);
  if (!existing) return fail('not_found', `no credit type "${ref}"`);
  const updated = await updateCreditType(db, existing.id, { ...definedOnly(patch), updated_at: now });
  return updated ? ok(updated) : fail('not_found', `no credit type "${ref}"`);
}

export function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
