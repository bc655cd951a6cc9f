import { z } from 'zod';
import { enqueue, queueReachable, unreachable } from '../../commands/index.js';
import { listReportRuns, reportRunById } from '../../db/repositories/reports.js';
import { fail } from '../../domain/result.js';
import { isUuid } from '../../ids.js';
import { REPORT_TYPES } from '../../reports/params.js';
import {
  createReportRun,
  notDownloadable,
  reportRequest,
  reportRunView,
  sendReportDownload,
  toReportRunView,
} from '../../reports/service.js';
import { idParams, listOf, pageQuery } from '../../schemas/common.js';
import { problemOf } from '../problem-schemas.js';
import { page } from '../reply.js';
import { type AnyRoute, defineRoute } from '../route.js';

const notFound = (id: string) => fail('not_found', `no report run "${id}"`);

export const reportRoutes: AnyRoute[] = [
  defineRoute({
    method: 'post',
    path: '/v1/reports',
    access: 'write',
    tag: 'reports',
    summary: 'Run a report: a job generates it, stored with its run',
    description:
      'DOMAIN.md "Reports": `subscriptions`, `balances`, `consumption`, `renewals`, `top_packages`, `expiring`. ' +
      '`params` apply per type (anything else is a 422): consumption `from, to, group_by, credit_type, package, ' +
      'client, per`; renewals `from, to, group_by, package, client`; top_packages `from, to, client`; ' +
      'subscriptions `package, client`; balances `package, client, credit_type`; expiring `days_ahead, package, ' +
      'client, credit_type`. The default range is the last 30 days up to and including now; days are those of ' +
      'BUSINESS_TZ. Answers 202 `{id, status: "queued"}`; poll GET /v1/reports/{id} (or listen for ' +
      '`report.ready`, or `report.failed`), then download it.',
    body: reportRequest,
    idempotency: 'stored',
    responses: {
      202: { description: 'Queued', schema: z.object({ id: z.uuid(), status: z.literal('queued') }) },
      422: { description: 'Unknown type or format, or params that are wrong or do not apply to the type' },
      503: { description: 'The queue (Redis) is down; nothing was written' },
    },
    handler: async ({ body, db, app, afterCommit, origin }) => {
      if (!queueReachable(app)) return unreachable();
      const created = await createReportRun(db, app, body, { trigger: origin });
      if (!created.ok) return created;
      afterCommit(async () => {
        await enqueue(app, [created.value.job]);
      });
      return { status: 202, body: { id: created.value.run.id, status: 'queued' } };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/reports',
    access: 'read',
    tag: 'reports',
    summary: 'List report runs, oldest first',
    query: pageQuery.extend({
      type: z.enum(REPORT_TYPES).optional(),
      status: z.enum(['queued', 'running', 'done', 'failed']).optional(),
      trigger: z.enum(['api', 'nightly', 'ui']).optional(),
    }),
    responses: { 200: { description: 'A page of report runs', schema: listOf(reportRunView) } },
    handler: async ({ query, db }) => {
      const result = await listReportRuns(db, query, {
        type: query.type,
        status: query.status,
        trigger: query.trigger,
      });
      return { status: 200, body: page(result.data.map(toReportRunView), result.nextCursor) };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/reports/{id}',
    access: 'read',
    tag: 'reports',
    summary: 'A report run: its status, row count and size, and where to download it',
    params: idParams,
    responses: { 200: { description: 'The run', schema: reportRunView }, 404: { description: 'No such run' } },
    handler: async ({ params, db }) => {
      if (!isUuid(params.id)) return notFound(params.id);
      const run = await reportRunById(db, params.id);
      return run ? { status: 200, body: toReportRunView(run) } : notFound(params.id);
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/reports/{id}/download',
    access: 'read',
    tag: 'reports',
    summary: 'Download a done report: CSV (RFC 4180, header row) or JSON, as an attachment',
    params: idParams,
    responses: {
      200: {
        description:
          'The report file: `text/csv; charset=utf-8` or `application/json`, `Content-Disposition: attachment; ' +
          'filename="<type>-<days>.<ext>"`: the business day a picture (`as_of`) ends, or the first and last days ' +
          'of a range (`<from>_<to>`, one day alone when they are the same)',
        contentType: ['text/csv', 'application/json'],
      },
      404: { description: 'No such run' },
      409: {
        description: 'The run is not done (queued, running or failed)',
        schema: problemOf(['conflict'], { report_status: z.enum(['queued', 'running', 'failed']) }),
      },
    },
    handler: async ({ params, app, res }) => {
      if (!isUuid(params.id)) return notFound(params.id);
      const run = await reportRunById(app.db, params.id);
      if (!run) return notFound(params.id);
      const why = notDownloadable(run);
      if (why) return fail('conflict', why, { extra: { report_status: run.status } });
      await sendReportDownload(app, run, res);
      return { raw: true };
    },
  }),
];
