import type { Executor } from '../db/knex.js';
import { type ClientRow, findClient, insertClientIfAbsent, updateClient } from '../db/repositories/clients.js';
import { fail, ok, type Result } from '../domain/result.js';
import { newId } from '../ids.js';

export interface UpsertClientInput {
  external_ref: string;
  name: string;
  email?: string | null | undefined;
  metadata?: Record<string, unknown> | undefined;
}

/**
 * POST /v1/clients: creates the client, or updates the one that already has this `external_ref`
 * with the fields given (the sales system is the source of truth for who a client is).
 */
export async function upsertClient(
  db: Executor,
  input: UpsertClientInput,
  now: Date,
): Promise<Result<{ client: ClientRow; created: boolean }>> {
  const { client, created } = await insertClientIfAbsent(db, {
    id: newId(),
    external_ref: input.external_ref,
    name: input.name,
    email: input.email ?? null,
    metadata: input.metadata ?? {},
    created_at: now,
    updated_at: now,
  });
  if (created) return ok({ client, created });
  const changed =
    client.name !== input.name ||
    (input.email !== undefined && client.email !== input.email) ||
    (input.metadata !== undefined && JSON.stringify(client.metadata) !== JSON.stringify(input.metadata));
  if (!changed) return ok({ client, created });
  const updated = await updateClient(db, client.id, {
    name: input.name,
    ...(input.email !== undefined ? { email: input.email } : {}),
    ...(input.metadata !== undefined ? { metadata: input.metadata } : {}),
    updated_at: now,
  });
  return ok({ client: updated ?? client, created });
}

export interface PatchClientInput {
  name?: string | undefined;
  email?: string | null | undefined;
  metadata?: Record<string, unknown> | undefined;
}

export async function patchClient(
  db: Executor,
  ref: string,
  input: PatchClientInput,
  now: Date,
): Promise<Result<ClientRow>> {
  const existing = await findClient(db, ref);
  if (!existing) return fail('not_found', `no client "${ref}"`);
  const updated = await updateClient(db, existing.id, {
    ...(input.name !== undefined ? { name: input.name } : {}),
    ...(input.email !== undefined ? { email: input.email } : {}),
    ...(input.metadata !== undefined ? { metadata: input.metadata } : {}),
    updated_at: now,
  });
  return updated ? ok(updated) : fail('not_found', `no client "${ref}"`);
}
