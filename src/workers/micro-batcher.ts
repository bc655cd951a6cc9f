/**
 * Collects items submitted concurrently and hands them to `apply` in batches: when `maxSize` items
 * wait, or `maxWaitMs` after the first one arrived, whichever comes first — except in a lane with no
 * batch applying, where the first item waits only for the items submitted in the same turn of the
 * event loop (setImmediate): nothing applying means nothing to wait behind, and at a moderate load
 * `maxWaitMs` was pure latency on every job (a batch grows by itself while the one before it applies).
 * Each submitter gets its own item's outcome.
 *
 * Items are spread over `lanes` by `laneOf` (the consumption worker uses the client), each lane
 * batching on its own with at most `maxInFlight` batches applying at once. Two lanes never hold the
 * same client, so their transactions never wait for each other's row locks and run truly in
 * parallel; a second batch in flight in the same lane queues on the locks inside Postgres and takes
 * them the moment the first commits.
 *
 * Why: a Postgres commit costs the same for one row as for hundreds, and a balance's row lock is
 * held until the commit is flushed. Applying many jobs per transaction is what lets the consumption
 * worker approach the queue's own throughput (PERFORMANCE.md).
 */
export interface MicroBatcherOptions<I, O> {
  maxSize: number;
  maxWaitMs: number;
  /** Batches applying at once, per lane. */
  maxInFlight: number;
  /** Independent lanes (default 1). */
  lanes?: number;
  /** Which lane an item belongs to; items that must not run in parallel share a lane. */
  laneOf?(item: I): number;
  /** Applies one batch; answers one outcome per item, in order. A throw fails every item of the batch… */
  apply(items: I[]): Promise<O[]>;
  /**
   * …unless this answers true for the error: then the batch is split in halves and each applied
   * again on its own, down to single items, so that one bad item fails alone and its neighbours
   * are applied. For errors an item can cause (a value the database refuses), not for an outage,
   * which would fail every half the same way.
   */
  isolate?(error: unknown): boolean;
  /** Called after each batch, for metrics. */
  onBatch?(size: number, durationMs: number, error?: unknown): void;
}

interface Waiting<I, O> {
  item: I;
  resolve(value: O): void;
  reject(error: unknown): void;
}

class Lane<I, O> {
  queue: Waiting<I, O>[] = [];
  /** The flush to come: `maxWaitMs` behind a batch applying, or at the end of this turn in an idle lane. */
  timer: { kind: 'timeout'; handle: NodeJS.Timeout } | { kind: 'immediate'; handle: NodeJS.Immediate } | undefined;
  inFlight = 0;
}

export class MicroBatcher<I, O> {
  private readonly lanes: Lane<I, O>[];
  private readonly idleWaiters: Array<() => void> = [];

  constructor(private readonly options: MicroBatcherOptions<I, O>) {
    if (options.maxSize < 1 || options.maxInFlight < 1 || (options.lanes ?? 1) < 1)
      throw new RangeError('maxSize, maxInFlight and lanes must be at least 1');
    this.lanes = Array.from({ length: options.lanes ?? 1 }, () => new Lane<I, O>());
  }

  submit(item: I): Promise<O> {
    const index = this.lanes.length === 1 ? 0 : Math.abs(this.options.laneOf?.(item) ?? 0) % this.lanes.length;
    const lane = this.lanes[index]!;
    return new Promise<O>((resolve, reject) => {
      lane.queue.push({ item, resolve, reject });
      if (lane.queue.length >= this.options.maxSize) this.flush(lane);
      else if (!lane.timer)
        lane.timer =
          lane.inFlight === 0
            ? { kind: 'immediate', handle: setImmediate(() => this.flush(lane)) }
            : { kind: 'timeout', handle: setTimeout(() => this.flush(lane), this.options.maxWaitMs) };
    });
  }

  /** Items waiting plus batches applying, over all lanes. */
  get pending(): number {
    return this.lanes.reduce((sum, lane) => sum + lane.queue.length + lane.inFlight, 0);
  }

  /** Resolves when nothing waits and nothing applies (graceful shutdown). */
  async drain(): Promise<void> {
    for (const lane of this.lanes) this.flush(lane);
    if (this.pending === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private flush(lane: Lane<I, O>): void {
    if (lane.timer?.kind === 'timeout') clearTimeout(lane.timer.handle);
    else if (lane.timer?.kind === 'immediate') clearImmediate(lane.timer.handle);
    lane.timer = undefined;
    while (lane.queue.length > 0 && lane.inFlight < this.options.maxInFlight) {
      const batch = lane.queue.splice(0, this.options.maxSize);
      lane.inFlight += 1;
      void this.run(lane, batch);
    }
    // more waiting than may run now: the next completion in this lane flushes them
  }

  private async run(lane: Lane<I, O>, batch: Waiting<I, O>[]): Promise<void> {
    try {
      await this.applyTo(batch);
    } finally {
      lane.inFlight -= 1;
      if (lane.queue.length > 0) this.flush(lane);
      else if (this.pending === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  private async applyTo(batch: Waiting<I, O>[]): Promise<void> {
    const started = performance.now();
    try {
      const outcomes = await this.options.apply(batch.map((w) => w.item));
      if (outcomes.length !== batch.length)
        throw new Error(`apply answered ${outcomes.length} outcomes for ${batch.length} items`);
      batch.forEach((w, i) => {
        w.resolve(outcomes[i] as O);
      });
      this.options.onBatch?.(batch.length, performance.now() - started);
    } catch (error) {
      this.options.onBatch?.(batch.length, performance.now() - started, error);
      if (batch.length > 1 && this.options.isolate?.(error)) {
        const half = Math.ceil(batch.length / 2);
        await this.applyTo(batch.slice(0, half));
        await this.applyTo(batch.slice(half));
        return;
      }
      for (const w of batch) w.reject(error);
    }
  }
}
