import type { ValidityCalendar, ValidityUnit } from '../../domain/period.js';
import type { RolloverPolicy } from '../../domain/rollover.js';
import type { Executor } from '../knex.js';
import { type Page, type PageRequest, readPage } from '../pagination.js';
import { whereRef } from './refs.js';

export interface PackageRow {
  id: string;
  code: string;
  name: string;
  description: string | null;
  price: bigint;
  currency: string;
  validity_count: number;
  validity_unit: ValidityUnit;
  /** What its months and years are counted in (migration 0020). */
  validity_calendar: ValidityCalendar;
  recharge_price: bigint | null;
  rollover: RolloverPolicy;
  auto_renew: boolean;
  priority: number;
  low_balance_percent: number;
  /** Days a subscription may be frozen per period; null: never. */
  max_freeze_days: number | null;
  status: 'active' | 'archived';
  metadata: Record<string, unknown>;
  created_at: Date;
  updated_at: Date;
}

export interface PackageItemRow {
  package_id: string;
  credit_type_id: string;
  units: bigint;
  position: number;
}

export interface PackageWithItems extends PackageRow {
  items: PackageItemRow[];
}

export async function insertPackage(
  db: Executor,
  row: PackageRow,
  items: readonly Omit<PackageItemRow, 'package_id'>[],
): Promise<void> {
  await db('packages').insert({
    ...row,
    rollover: JSON.stringify(row.rollover),
    metadata: JSON.stringify(row.metadata),
  });
  await db('package_items').insert(items.map((item) => ({ ...item, package_id: row.id })));
}

async function attachItems(db: Executor, rows: PackageRow[]): Promise<PackageWithItems[]> {
  if (rows.length === 0) return [];
  const items = (await db('package_items')
    .whereIn(
      'package_id',
      rows.map((r) => r.id),
    )
    .orderBy(['package_id', 'position'])) as PackageItemRow[];
  return rows.map((row) => ({ ...row, items: items.filter((i) => i.package_id === row.id) }));
}

export async function findPackage(db: Executor, ref: string): Promise<PackageWithItems | undefined> {
  const row = (await whereRef(db('packages').select('*'), 'packages', 'code', ref).first()) as PackageRow | undefined;
  if (!row) return undefined;
  const [withItems] = await attachItems(db, [row]);
  return withItems;
}

export async function packageById(
  db: Executor,
  id: string,
  options: { forUpdate?: boolean } = {},
): Promise<PackageWithItems | undefined> {
  const query = db('packages').where({ id });
  if (options.forUpdate) query.forUpdate();
  const row = (await query.first()) as PackageRow | undefined;
  if (!row) return undefined;
  const [withItems] = await attachItems(db, [row]);
  return withItems;
}

export async function listPackages(
  db: Executor,
  page: PageRequest,
  filter: { status?: 'active' | 'archived' | undefined; creditTypeId?: string | undefined },
): Promise<Page<PackageWithItems>> {
  const query = db('packages').select('packages.*');
  if (filter.status) query.where('packages.status', filter.status);
  if (filter.creditTypeId) {
    query.whereExists((q) =>
      q
        .select(1)
        .from('package_items')
        .whereRaw('package_items.package_id = packages.id')
        .andWhere('package_items.credit_type_id', filter.creditTypeId!),
    );
  }
  const result = await readPage<PackageRow>(query, page, 'packages');
  return { data: await attachItems(db, result.data), nextCursor: result.nextCursor };
}

export type PackagePatch = Partial<
  Pick<
    PackageRow,
    | 'name'
    | 'description'
    | 'price'
    | 'recharge_price'
    | 'rollover'
    | 'auto_renew'
    | 'priority'
    | 'low_balance_percent'
    | 'max_freeze_days'
    | 'status'
    | 'metadata'
    | 'validity_count'
    | 'validity_unit'
    | 'validity_calendar'
  >
> & { updated_at: Date };

export async function updatePackage(db: Executor, id: string, patch: PackagePatch): Promise<void> {
  const values: Record<string, unknown> = { ...patch };
  if (patch.rollover) values.rollover = JSON.stringify(patch.rollover);
  if (patch.metadata) values.metadata = JSON.stringify(patch.metadata);
  await db('packages').where({ id }).update(values);
}

/**
 * Units and fees can change after sale: new items apply to new subscriptions and to renewals that follow the package.
 */
export async function replacePackageItems(
  db: Executor,
  packageId: string,
  items: readonly Omit<PackageItemRow, 'package_id'>[],
): Promise<void> {
  await db('package_items').where({ package_id: packageId }).delete();
  await db('package_items').insert(items.map((item) => ({ ...item, package_id: packageId })));
}

/** Packages by id (without their items). */
export async function packagesByIds(db: Executor, ids: readonly string[]): Promise<PackageRow[]> {
  if (ids.length === 0) return [];
  return (await db('packages').whereIn('id', [...new Set(ids)])) as PackageRow[];
}

/** The ids of the packages of these codes, by code (a code is unique). */
export async function packageIdsByCodes(db: Executor, codes: readonly string[]): Promise<Map<string, string>> {
  if (codes.length === 0) return new Map();
  const rows = (await db('packages')
    .whereIn('code', [...new Set(codes)])
    .select('id', 'code')) as Array<{
    id: string;
    code: string;
  }>;
  return new Map(rows.map((r) => [r.code, r.id]));
}
