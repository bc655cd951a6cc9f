import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';

/**
 * Debug only, off unless STAGE_TIMES_DIR is set (main.ts starts it; bench/load.ts sets it with
 * `--stages`): the moment each request or job passes each stage of the `?wait=true` path, for a
 * breakdown of where a waited request's time goes (bench/stage-breakdown.ts). Off, `stageTimes` is
 * undefined and each call site costs one optional-chaining test.
 *
 * Times are epoch milliseconds with a fraction (`performance.timeOrigin + performance.now()`): the api,
 * the worker and the load tool run on one machine and are compared on its one clock. Each process
 * appends `[key, stage, at]` rows to `<dir>/<label>-<pid>.jsonl` a few times a second, plus its GC
 * pauses (key `gc`, with their duration) and its event loop's delay second by second (key `loop`).
 */
export interface StageTimes {
  /** Now (or `at`) for stage `stage` of `key` (a job id, or an idempotency key at the HTTP edge). */
  mark(key: string, stage: string, at?: number): void;
}

export const nowMs = (): number => performance.timeOrigin + performance.now();

/** Set once, by startStageTimes, when the debug flag is on. */
export let stageTimes: StageTimes | undefined;

export function startStageTimes(dir: string, label: string): void {
  if (stageTimes) return;
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${label}-${process.pid}.jsonl`);
  let rows: string[] = [];
  const flush = () => {
    if (rows.length === 0) return;
    const text = `${rows.join('\n')}\n`;
    rows = [];
    appendFileSync(file, text);
  };
  const timer = setInterval(flush, 250);
  timer.unref();
  const gc = new PerformanceObserver((list) => {
    for (const entry of list.getEntries())
      rows.push(JSON.stringify(['gc', `gc-${entry.name}`, performance.timeOrigin + entry.startTime, entry.duration]));
  });
  gc.observe({ entryTypes: ['gc'] });
  // the event loop's delay, second by second (a row per second: its p99 and max, in ms)
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  const ms = (ns: number) => Math.round(ns / 10_000) / 100;
  const second = setInterval(() => {
    rows.push(JSON.stringify(['loop', 'loop-delay', nowMs(), { p99: ms(loop.percentile(99)), max: ms(loop.max) }]));
    loop.reset();
  }, 1_000);
  second.unref();
  process.once('exit', flush);
  stageTimes = {
    mark(key, stage, at = nowMs()) {
      rows.push(JSON.stringify([key, stage, at]));
    },
  };
}

/**
 * Debug, with the stage times on: when the api's server took up each connection (its 'connection'
 * event, right after libuv's accept) and when each request's head was parsed (the server's 'request'
 * event, before express) — marked by the request's key once its answer is written (src/http/app.ts).
 */
export const connectionTimes = new WeakMap<object, number>();
export const parsedTimes = new WeakMap<object, number>();

/** Records both on `server` (src/http/server.ts, only when the stage times are on). */
export function watchConnections(server: {
  on(event: 'connection', listener: (socket: object) => void): unknown;
  prependListener(event: 'request', listener: (req: object) => void): unknown;
}): void {
  server.on('connection', (socket) => connectionTimes.set(socket, nowMs()));
  server.prependListener('request', (req) => parsedTimes.set(req, nowMs()));
}
