import { z } from 'zod';
import { AUDIT_ORIGINS, type AuditEventRow, listAuditEvents } from '../../db/repositories/audit.js';
import { listOf, pageQuery, storableText, timestampSchema } from '../../schemas/common.js';
import { page } from '../reply.js';
import { type AnyRoute, defineRoute } from '../route.js';

export const auditEventView = z
  .object({
    id: z.uuid(),
    at: z.string(),
    actor_key_id: z.uuid().nullable().meta({ description: 'The key that acted; null for the CLI.' }),
    actor_name: z.string(),
    origin: z.enum(AUDIT_ORIGINS).meta({ description: '`api`, `ui` (a form of the pages) or `cli`.' }),
    action: z.string().meta({
      description: 'The route called, `PATCH /v1/packages/{id}` (its method and template), or the CLI command.',
    }),
    target_id: z.string().nullable().meta({ description: "The path's id, or the id of what the call made." }),
    request: z.unknown().meta({
      description:
        'The request body with every secret redacted (fields naming a secret, key, password or token; values ' +
        'that are keys or webhook secrets). A body over 8,000 characters is summarised by its fields.',
    }),
    status: z.number().int().meta({ description: 'The answer: a refused call (4xx) changed nothing.' }),
    request_id: z.string().nullable(),
  })
  .meta({ id: 'AuditEvent' });

export const toAuditEventView = (row: AuditEventRow): z.output<typeof auditEventView> => ({
  id: row.id,
  at: row.at.toISOString(),
  actor_key_id: row.actor_key_id,
  actor_name: row.actor_name,
  origin: row.origin,
  action: row.action,
  target_id: row.target_id,
  request: row.request,
  status: row.status,
  request_id: row.request_id,
});

export const auditRoutes: AnyRoute[] = [
  defineRoute({
    method: 'get',
    path: '/v1/audit-events',
    access: 'admin',
    tag: 'access',
    summary: 'The audit trail, newest first',
    description:
      'Who changed what: every change made from the pages, every change through an admin route of the API ' +
      '(catalogue and prices, keys, webhook endpoints, grants and adjustments, the clock, the nightly run), and ' +
      'keys made or revoked with the CLI. A refused call is listed too with its status (it changed nothing). ' +
      'Append-only: the database refuses to change or delete a row.',
    query: pageQuery.extend({
      actor: storableText().trim().min(1).max(200).optional().meta({
        description: 'A key id, or a part of the actor name (any case).',
      }),
      action: storableText().trim().min(1).max(200).optional().meta({
        description: 'A part of the action (any case): `packages`, `PATCH /v1/packages/{id}`.',
      }),
      origin: z.enum(AUDIT_ORIGINS).optional(),
      from: timestampSchema.optional().meta({ description: 'At or after this time.' }),
      to: timestampSchema.optional().meta({ description: 'Before this time.' }),
    }),
    responses: { 200: { description: 'A page of events', schema: listOf(auditEventView) } },
    handler: async ({ query, db }) => {
      const result = await listAuditEvents(db, query, query);
      return { status: 200, body: page(result.data.map(toAuditEventView), result.nextCursor) };
    },
  }),
];
