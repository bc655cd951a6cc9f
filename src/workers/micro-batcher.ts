/**
 * Collects items submitted concurrently and hands them to `apply` in batches: when `maxSize` items
 * wait, or `maxWaitMs` after the first one arrived, whichever comes first, with at most
 * `maxInFlight` batches applying at once. Each submitter gets its own item's outcome.
 *
 * Why: a Postgres commit costs the same for one row as for hundreds, and a balance's row lock is
 * held until the commit is flushed. Applying many jobs per transaction is what lets the consumption
 * worker approach the queue's own throughput (PERFORMANCE.md).
 */
export interface MicroBatcherOptions<I, O> {
  maxSize: number;
  maxWaitMs: number;
  maxInFlight: number;
  /** Applies one batch; answers one outcome per item, in order. A throw fails every item of the batch. */
  apply(items: I[]): Promise<O[]>;
  /** Called after each batch, for metrics. */
  onBatch?(size: number, durationMs: number, error?: unknown): void;
}

interface Waiting<I, O> {
  item: I;
  resolve(value: O): void;
  reject(error: unknown): void;
}

export class MicroBatcher<I, O> {
  private queue: Waiting<I, O>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  private readonly idleWaiters: Array<() => void> = [];

  constructor(private readonly options: MicroBatcherOptions<I, O>) {
    if (options.maxSize < 1 || options.maxInFlight < 1) throw new RangeError('maxSize and maxInFlight must be at least 1');
  }

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.queue.length >= this.options.maxSize) this.flush();
      else if (!this.timer) this.timer = setTimeout(() => this.flush(), this.options.maxWaitMs);
    });
  }

  /** Items waiting plus batches applying. */
  get pending(): number {
    return this.queue.length + this.inFlight;
  }

  /** Resolves when nothing waits and nothing applies (graceful shutdown). */
  async drain(): Promise<void> {
    this.flush();
    if (this.pending === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (this.queue.length > 0 && this.inFlight < this.options.maxInFlight) {
      const batch = this.queue.splice(0, this.options.maxSize);
      this.inFlight += 1;
      void this.run(batch);
    }
    // more waiting than may run now: the next completion flushes them
  }

  private async run(batch: Waiting<I, O>[]): Promise<void> {
    const started = performance.now();
    try {
      const outcomes = await this.options.apply(batch.map((w) => w.item));
      if (outcomes.length !== batch.length) throw new Error(`apply answered ${outcomes.length} outcomes for ${batch.length} items`);
      batch.forEach((w, i) => w.resolve(outcomes[i] as O));
      this.options.onBatch?.(batch.length, performance.now() - started);
    } catch (error) {
      for (const w of batch) w.reject(error);
      this.options.onBatch?.(batch.length, performance.now() - started, error);
    } finally {
      this.inFlight -= 1;
      if (this.queue.length > 0) this.flush();
      else if (this.inFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }
}
