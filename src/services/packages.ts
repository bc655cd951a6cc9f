import { type Executor, PG, pgCode } from '../db/knex.js';
import { type CreditTypeRow, creditTypesByIds, findCreditType } from '../db/repositories/credit-types.js';
import {
  findPackage,
  insertPackage,
  type PackageItemRow,
  type PackagePatch,
  type PackageRow,
  type PackageWithItems,
  replacePackageItems,
  updatePackage,
} from '../db/repositories/packages.js';
import { transact, withTransaction } from '../db/transact.js';
import { isCurrency } from '../domain/money.js';
import type { Validity } from '../domain/period.js';
import { parseQuantity } from '../domain/quantity.js';
import type { FieldProblem } from '../domain/result.js';
import { fail, ok, type Result } from '../domain/result.js';
import type { RolloverPolicy } from '../domain/rollover.js';
import { newId } from '../ids.js';
import { definedOnly } from './credit-types.js';

export interface ItemInput {
  credit_type: string;
  units: number | string;
}

export interface CreatePackageInput {
  code: string;
  name: string;
  description?: string | null | undefined;
  price: bigint;
  currency: string;
  validity: Validity;
  items: ItemInput[];
  recharge_price?: bigint | null | undefined;
  rollover?: RolloverPolicy | undefined;
  auto_renew?: boolean | undefined;
  priority?: number | undefined;
  low_balance_percent?: number | undefined;
  max_freeze_days?: number | null | undefined;
  metadata?: Record<string, unknown> | undefined;
}

export interface ResolvedItems {
  items: Omit<PackageItemRow, 'package_id'>[];
  creditTypes: Map<string, CreditTypeRow>;
}

/**
 * Turns `[{credit_type, units}]` into rows: each credit type must exist, be live, appear once, and
 * the units must fit its precision. Every problem is reported with its field path.
 */
export async function resolveItems(
  db: Executor,
  items: readonly ItemInput[],
  field = 'items',
): Promise<Result<ResolvedItems>> {
  const problems: FieldProblem[] = [];
  const rows: Omit<PackageItemRow, 'package_id'>[] = [];
  const creditTypes = new Map<string, CreditTypeRow>();
  for (const [index, item] of items.entries()) {
    const creditType = await findCreditType(db, item.credit_type);
    if (!creditType) {
      problems.push({ field: `${field}.${index}.credit_type`, message: `no credit type "${item.credit_type}"` });
      continue;
    }
    if (creditType.archived) {
      problems.push({
        field: `${field}.${index}.credit_type`,
        message: `credit type "${creditType.code}" is archived`,
      });
      continue;
    }
    if (creditTypes.has(creditType.id)) {
      problems.push({
        field: `${field}.${index}.credit_type`,
        message: `credit type "${creditType.code}" appears more than once`,
      });
      continue;
    }
    // named before its units are read: a later item of the same credit type is told as repeated in the same
    // answer, even when these units are refused
    creditTypes.set(creditType.id, creditType);
    const units = parseQuantity(item.units, creditType.decimals);
    if (!units.ok) {
      problems.push({ field: `${field}.${index}.units`, message: units.detail });
      continue;
    }
    rows.push({ credit_type_id: creditType.id, units: units.value, position: index });
  }
  if (problems.length > 0)
    return fail('validation_failed', problems.map((p) => `${p.field} ${p.message}`).join('; '), { errors: problems });
  return ok({ items: rows, creditTypes });
}

export async function createPackage(
  db: Executor,
  input: CreatePackageInput,
  now: Date,
): Promise<Result<PackageWithItems>> {
  if (!isCurrency(input.currency)) {
    return fail('validation_failed', `currency "${input.currency}" is not an ISO 4217 code`, {
      errors: [{ field: 'currency', message: 'is not an ISO 4217 code' }],
    });
  }
  const resolved = await resolveItems(db, input.items);
  if (!resolved.ok) return resolved;
  const row: PackageRow = {
    id: newId(),
    code: input.code,
    name: input.name,
    description: input.description ?? null,
    price: input.price,
    currency: input.currency,
    validity_count: input.validity.count,
    validity_unit: input.validity.unit,
    validity_calendar: input.validity.calendar ?? 'gregory',
    recharge_price: input.recharge_price ?? null,
    rollover: input.rollover ?? { policy: 'none' },
    auto_renew: input.auto_renew ?? false,
    priority: input.priority ?? 50,
    low_balance_percent: input.low_balance_percent ?? 10,
    max_freeze_days: input.max_freeze_days ?? null,
    status: 'active',
    metadata: input.metadata ?? {},
    created_at: now,
    updated_at: now,
  };
  try {
    // its own (sub)transaction: the package and its items together, and a unique violation rolls back
    // only this savepoint, not the caller's transaction
    await withTransaction(db, (tx) => insertPackage(tx, row, resolved.value.items));
  } catch (error) {
    if (pgCode(error) === PG.uniqueViolation) {
      return fail('conflict', `a package with code "${input.code}" exists already`, {
        errors: [{ field: 'code', message: 'is taken' }],
      });
    }
    throw error;
  }
  return ok({ ...row, items: resolved.value.items.map((i) => ({ ...i, package_id: row.id })) });
}

export interface PatchPackageInput {
  name?: string | undefined;
  description?: string | null | undefined;
  price?: bigint | undefined;
  recharge_price?: bigint | null | undefined;
  validity?: Validity | undefined;
  rollover?: RolloverPolicy | undefined;
  auto_renew?: boolean | undefined;
  priority?: number | undefined;
  low_balance_percent?: number | undefined;
  max_freeze_days?: number | null | undefined;
  status?: 'active' | 'archived' | undefined;
  metadata?: Record<string, unknown> | undefined;
  items?: ItemInput[] | undefined;
}

/**
 * Fees and units can change after sale. A new price applies to new subscriptions and to renewals of
 * subscriptions that follow the package price; new items to new subscriptions and to renewals of
 * subscriptions with `apply_package_changes`.
 */
export async function patchPackage(
  db: Executor,
  ref: string,
  input: PatchPackageInput,
  now: Date,
): Promise<Result<PackageWithItems>> {
  const existing = await findPackage(db, ref);
  if (!existing) return fail('not_found', `no package "${ref}"`);
  const { items, validity, ...rest } = input;
  const patch: PackagePatch = { ...definedOnly(rest), updated_at: now };
  if (input.description === null) patch.description = null;
  if (input.recharge_price === null) patch.recharge_price = null;
  if (validity) {
    patch.validity_count = validity.count;
    patch.validity_unit = validity.unit;
    // the validity is replaced whole: one given without a calendar is Gregorian again
    patch.validity_calendar = validity.calendar ?? 'gregory';
  }
  return transact(db, async (tx) => {
    const resolved = items ? await resolveItems(tx, items) : undefined;
    if (resolved && !resolved.ok) return resolved;
    // the package row first: it stays locked to the commit, so that a concurrent PATCH of the items waits and then
    // replaces these whole (its delete would not see items inserted after it began, and would add its own to them)
    await updatePackage(tx, existing.id, patch);
    if (resolved) await replacePackageItems(tx, existing.id, resolved.value.items);
    const updated = await findPackage(tx, existing.id);
    return updated ? ok(updated) : fail('not_found', `no package "${ref}"`);
  });
}

export async function creditTypesOfPackages(
  db: Executor,
  packages: readonly PackageWithItems[],
): Promise<Map<string, CreditTypeRow>> {
  return creditTypesByIds(
    db,
    packages.flatMap((p) => p.items.map((i) => i.credit_type_id)),
  );
}
