import { z } from 'zod';
import type { ClientRow } from '../db/repositories/clients.js';

export const clientView = z
  .object({
    id: z.uuid(),
    external_ref: z.string(),
    name: z.string(),
    email: z.string().nullable(),
    metadata: z.record(z.string(), z.unknown()),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .meta({ id: 'Client' });
export type ClientView = z.infer<typeof clientView>;

export const toClientView = (row: ClientRow): ClientView => ({
  id: row.id,
  external_ref: row.external_ref,
  name: row.name,
  email: row.email,
  metadata: row.metadata,
  created_at: row.created_at.toISOString(),
  updated_at: row.updated_at.toISOString(),
});

export const clientRef = z.object({ id: z.uuid(), external_ref: z.string(), name: z.string() });
export type ClientRef = z.infer<typeof clientRef>;
export const toClientRef = (row: ClientRow): ClientRef => ({
  id: row.id,
  external_ref: row.external_ref,
  name: row.name,
});
