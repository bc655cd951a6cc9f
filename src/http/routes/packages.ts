import { z } from 'zod';
import type { Executor } from '../../db/knex.js';
import { findCreditType } from '../../db/repositories/credit-types.js';
import { findPackage, listPackages, type PackageWithItems } from '../../db/repositories/packages.js';
import { fail } from '../../domain/result.js';
import { idParams, listOf, pageQuery, refSchema } from '../../schemas/common.js';
import { createPackageBody, patchPackageBody } from '../../schemas/package.js';
import { createPackage, creditTypesOfPackages, patchPackage } from '../../services/packages.js';
import { packageView, toPackageView } from '../../views/package.js';
import { page, replyWith } from '../reply.js';
import { type AnyRoute, defineRoute } from '../route.js';

async function views(db: Executor, packages: PackageWithItems[]) {
  const creditTypes = await creditTypesOfPackages(db, packages);
  return packages.map((p) => toPackageView(p, creditTypes));
}

export const packageRoutes: AnyRoute[] = [
  defineRoute({
    method: 'post',
    path: '/v1/packages',
    access: 'admin',
    tag: 'catalog',
    summary: 'Create a package of credit types',
    body: createPackageBody,
    idempotency: 'stored',
    responses: { 201: { description: 'Created', schema: packageView }, 409: { description: 'The code is taken' } },
    handler: async ({ body, db, app }) =>
      replyWith(await createPackage(db, body, app.clock.now()), 201, async (p) => (await views(db, [p]))[0]),
  }),
  defineRoute({
    method: 'get',
    path: '/v1/packages',
    access: 'read',
    tag: 'catalog',
    summary: 'List packages',
    query: pageQuery.extend({ status: z.enum(['active', 'archived']).optional(), credit_type: refSchema.optional() }),
    responses: { 200: { description: 'A page of packages', schema: listOf(packageView) } },
    handler: async ({ query, db }) => {
      let creditTypeId: string | undefined;
      if (query.credit_type) {
        const creditType = await findCreditType(db, query.credit_type);
        if (!creditType) return { status: 200, body: page([], null) };
        creditTypeId = creditType.id;
      }
      const result = await listPackages(db, query, { status: query.status, creditTypeId });
      return { status: 200, body: page(await views(db, result.data), result.nextCursor) };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/packages/{id}',
    access: 'read',
    tag: 'catalog',
    summary: 'Get a package by id or code',
    params: idParams,
    responses: { 200: { description: 'The package', schema: packageView }, 404: { description: 'No such package' } },
    handler: async ({ params, db }) => {
      const row = await findPackage(db, params.id);
      return row ? { status: 200, body: (await views(db, [row]))[0] } : fail('not_found', `no package "${params.id}"`);
    },
  }),
  defineRoute({
    method: 'patch',
    path: '/v1/packages/{id}',
    access: 'admin',
    tag: 'catalog',
    summary: 'Change a package: fees, units, validity, rollover, priority, status',
    description:
      'A new price applies to new subscriptions and to renewals of subscriptions that follow the package price. ' +
      'New items apply to new subscriptions and to renewals of subscriptions with `apply_package_changes`.',
    params: idParams,
    body: patchPackageBody,
    responses: { 200: { description: 'Updated', schema: packageView }, 404: { description: 'No such package' } },
    handler: async ({ params, body, db, app }) =>
      replyWith(await patchPackage(db, params.id, body, app.clock.now()), 200, async (p) => (await views(db, [p]))[0]),
  }),
];
