/**
 * Which events a webhook endpoint is told of: those of the types it subscribes to that occurred while it was live —
 * after it was made (`afterSeq`, migration 0027) and outside the spans it was disabled for (`pauses`, migration
 * 0029). Decided by the event's place in the outbox (`seq`), not by when the relay dispatches it, so that the relay's
 * lag changes nothing. An event that occurred while the endpoint was live gets its delivery even when the endpoint is
 * disabled by the time it is dispatched: that delivery is given up at its first attempt (src/jobs/deliver-webhook.ts)
 * and can be sent again by hand, like the deliveries pending when the endpoint was disabled.
 */
export interface EndpointWindow {
  id: string;
  /** The event types it subscribes to; `*` for all. */
  events: readonly string[];
  /** The outbox's newest seq when the endpoint was made: it is told of the events after it. */
  afterSeq: bigint;
  /** The spans (fromSeq, toSeq] it was disabled for; `toSeq` null while it is disabled still. */
  pauses: ReadonlyArray<{ fromSeq: bigint; toSeq: bigint | null }>;
}

export function endpointReceives(endpoint: EndpointWindow, event: { seq: bigint; type: string }): boolean {
  if (event.seq <= endpoint.afterSeq) return false;
  if (!endpoint.events.includes('*') && !endpoint.events.includes(event.type)) return false;
  return !endpoint.pauses.some((p) => event.seq > p.fromSeq && (p.toSeq === null || event.seq <= p.toSeq));
}
