import { z } from 'zod';
import { EVENT_TYPES, type EventType } from '../domain/event.js';

/**
 * What a webhook delivers and GET /v1/events lists: the event's envelope (src/db/repositories/outbox.ts
 * `outboxJson` builds it) around its `data`.
 */
export const eventEnvelope = z
  .object({
    id: z.uuid().meta({ description: 'The event id; the `webhook-id` header of its deliveries' }),
    type: z.enum(EVENT_TYPES),
    created_at: z.string().meta({ description: 'When the event happened (ISO 8601)' }),
    data: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'Event' });

/** Each event type's `data`, as precise as the code that records it allows (OpenAPI `webhooks`). */
export const EVENT_DATA: Partial<Record<EventType, z.ZodType>> = {};

/** The delivered body of one event type: the envelope with its type fixed and its `data` schema. */
export const eventSchemaOf = (type: EventType): z.ZodType =>
  z
    .object({
      id: z.uuid(),
      type: z.literal(type),
      created_at: z.string(),
      data: EVENT_DATA[type] ?? z.record(z.string(), z.unknown()),
    })
    .meta({ id: `Event_${type.replace(/\./g, '_')}` });
