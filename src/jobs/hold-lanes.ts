/**
 * Which client each open hold this worker process took (or locked) belongs to, so that its `capture` or
 * `release` goes to its client's lane of the micro-batcher, like the client's uses and holds
 * (workers/queue-processor.ts): a closing job carries only the hold's id, and the id (a UUID v5 of client
 * and key) does not say. In the client's lane two batches of closings of this process never lock the same
 * balance, so they run side by side; by the hold's id instead, almost every pair of batches in flight shares
 * a client and the second waits for the first's commit (bench/hold-cost.ts measured the lock wait as most of
 * a capture batch's time). A hint only: a hold this process never saw (taken by another worker process, or
 * forgotten) goes to a lane by its id — as correct, only slower when two lanes then lock one balance.
 */

/** Open holds remembered at most (first in, first forgotten): about 14 MB when full. */
export const MAX_REMEMBERED = 100_000;
const clientOfHold = new Map<string, string>();

export function rememberHoldClient(holdId: string, clientId: string): void {
  if (clientOfHold.size >= MAX_REMEMBERED && !clientOfHold.has(holdId)) {
    const oldest = clientOfHold.keys().next();
    if (!oldest.done) clientOfHold.delete(oldest.value);
  }
  clientOfHold.set(holdId, clientId);
}

/** A closed hold is closed once: later jobs for it are replays, and any lane answers them. */
export function forgetHold(holdId: string): void {
  clientOfHold.delete(holdId);
}

/** The lane key of a closing of `holdId`: its client when known, else the hold itself. */
export const closingLane = (holdId: string): string => clientOfHold.get(holdId) ?? holdId;
