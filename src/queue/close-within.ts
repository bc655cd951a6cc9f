/** What closeWithin closes: a BullMQ Worker, Queue or QueueEvents. */
export interface Closable {
  close(): Promise<void>;
  /** Cuts the object's connections without waiting for them to end. */
  disconnect(): Promise<void>;
}

/**
 * Closes `target` within `ms`, and says whether it closed in time. BullMQ's close() waits for the
 * `end` event of its ioredis clients, and a client parked in `reconnecting` (its Redis node lost: a
 * cluster failover, a restart) never emits it — taskforcesh/bullmq#4656 and #4065 — so a shutdown
 * (or a test's teardown) would wait for ever. Past the deadline the close goes on without anyone
 * waiting for it, the connections are cut, and `onLate` is told (to log which one it was): the jobs
 * it held are not lost, BullMQ's stalled-job check hands them to another worker.
 */
export async function closeWithin(target: Closable, ms: number, onLate: () => void): Promise<boolean> {
  const closing = target.close();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    const closed = await Promise.race([closing.then(() => true), late]);
    if (!closed) {
      closing.catch(() => undefined);
      onLate();
      target.disconnect().catch(() => undefined);
    }
    return closed;
  } finally {
    clearTimeout(timer);
  }
}
