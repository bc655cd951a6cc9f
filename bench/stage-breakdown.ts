/**
 * Where a `?wait=true` request's time goes (`npm run load -- --stages`): reads the stage times every
 * process wrote (src/stage-times.ts), joins them request by request, and gives each interval's
 * percentiles — and, for the slowest 1 % of requests, the mean of each interval, which says what their
 * tail is made of. Also each process's GC pauses and event-loop delay over the phase.
 *
 * A job's rows are keyed by its job id (`consume|<client>|<idempotency key>`), the HTTP edge's and the
 * load tool's by the idempotency key: both are brought to the key.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The intervals, in the order a request passes them: [name, from stage, to stage]. */
const INTERVALS: ReadonlyArray<readonly [string, string, string]> = [
  ['client → api', 'client_sent', 'http_in'],
  ['api → admitter', 'http_in', 'submit'],
  ['admitter wait', 'submit', 'group'],
  ['insert', 'group', 'inserted'],
  ['→ addBulk', 'inserted', 'added'],
  ['addBulk → active', 'added', 'active'],
  ['active → processor', 'active', 'fetched'],
  ['batcher wait', 'fetched', 'batch_start'],
  ['batch', 'batch_start', 'batch_done'],
  ['→ event written', 'batch_done', 'xadd'],
  ['event → api', 'xadd', 'event'],
  ['api → reply', 'event', 'http_out'],
  ['reply → client', 'http_out', 'client_answered'],
];
/** Beside the chain: sums of it, and stages seen from another side. */
const EXTRA: ReadonlyArray<readonly [string, string, string]> = [
  ['(total, client)', 'client_sent', 'client_answered'],
  ['(total, api)', 'http_in', 'http_out'],
  ['(addBulk answered)', 'added', 'enqueued'],
  // a connection's first request only (autocannon): its socket's connect, the api's accept, the head parsed;
  // the simple client opens its sockets before the clock (with a /healthz), so its "accepted → parsed" is
  // the wait until a socket's first waited request
  ['(sent → connected)', 'client_sent', 'client_connect'],
  ['(connected → accepted)', 'client_connect', 'conn_accept'],
  ['(sent → accepted)', 'client_sent', 'conn_accept'],
  ['(accepted → parsed)', 'conn_accept', 'http_parsed'],
  ['(parsed → http_in)', 'http_parsed', 'http_in'],
  ['(worker completed)', 'batch_done', 'completed'],
];

type Row = [string, string, number, unknown?];

export interface StageFigures {
  requests: number;
  intervals: Record<string, { p50: number; p90: number; p99: number; max: number; tail_mean: number }>;
  gc: Record<string, { pauses: number; total_ms: number; max_ms: number }>;
  loop_delay: Record<string, { worst_p99_ms: number; max_ms: number }>;
}

const keyOf = (key: string): string => {
  if (!key.startsWith('consume|')) return key;
  return decodeURIComponent(key.slice(key.lastIndexOf('|') + 1));
};
const round1 = (n: number) => Math.round(n * 10) / 10;
const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

/** The phase's requests: those the load tool sent between `from` and `to` (epoch ms) and saw answered. */
export function stageBreakdown(dir: string, window: { from: number; to: number }): StageFigures {
  const byKey = new Map<string, Map<string, number>>();
  const gc: StageFigures['gc'] = {};
  const loop: StageFigures['loop_delay'] = {};
  for (const file of readdirSync(dir)) {
    if (!file.endsWith('.jsonl')) continue;
    const label = file.replace(/-\d+\.jsonl$/, '');
    for (const text of readFileSync(join(dir, file), 'utf8').split('\n')) {
      if (!text) continue;
      const [key, stage, at, extra] = JSON.parse(text) as Row;
      if (key === 'gc' || key === 'loop') {
        if (at < window.from || at > window.to) continue;
        if (key === 'gc') {
          const g = gc[label] ?? { pauses: 0, total_ms: 0, max_ms: 0 };
          gc[label] = g;
          const ms = Number(extra);
          g.pauses += 1;
          g.total_ms = round1(g.total_ms + ms);
          g.max_ms = round1(Math.max(g.max_ms, ms));
        } else {
          const { p99, max } = extra as { p99: number; max: number };
          const l = loop[label] ?? { worst_p99_ms: 0, max_ms: 0 };
          loop[label] = l;
          l.worst_p99_ms = Math.max(l.worst_p99_ms, p99);
          l.max_ms = Math.max(l.max_ms, max);
        }
        continue;
      }
      const k = keyOf(key);
      let stages = byKey.get(k);
      if (!stages) {
        stages = new Map();
        byKey.set(k, stages);
      }
      // a stage seen twice (a job run again) keeps its first time
      if (!stages.has(stage)) stages.set(stage, at);
    }
  }
  const requests = [...byKey.values()].filter((s) => {
    const sent = s.get('client_sent');
    return sent !== undefined && sent >= window.from && sent <= window.to && s.has('client_answered');
  });
  const total = (s: Map<string, number>) => s.get('client_answered')! - s.get('client_sent')!;
  const slowest = [...requests]
    .sort((a, b) => total(b) - total(a))
    .slice(0, Math.max(1, Math.ceil(requests.length / 100)));
  const intervals: StageFigures['intervals'] = {};
  for (const [name, from, to] of [...INTERVALS, ...EXTRA]) {
    const span = (s: Map<string, number>) => {
      const a = s.get(from);
      const b = s.get(to);
      return a === undefined || b === undefined ? undefined : b - a;
    };
    const values = requests.flatMap((s) => span(s) ?? []).sort((a, b) => a - b);
    const tail = slowest.flatMap((s) => span(s) ?? []);
    if (values.length === 0) continue;
    intervals[name] = {
      p50: round1(percentile(values, 50)),
      p90: round1(percentile(values, 90)),
      p99: round1(percentile(values, 99)),
      max: round1(values[values.length - 1]!),
      tail_mean: round1(tail.reduce((sum, v) => sum + v, 0) / Math.max(1, tail.length)),
    };
  }
  return { requests: requests.length, intervals, gc, loop_delay: loop };
}

const HEADS = ['p50', 'p90', 'p99', 'max'];

export function describeStages(f: StageFigures): string {
  const pad = (text: string | number, n: number) => String(text).padStart(n);
  const lines = [
    `  stages of ${f.requests} waited requests (ms; "slowest 1 %" = the mean over the slowest 1 % by total):`,
    `    ${'interval'.padEnd(22)}${HEADS.map((h) => pad(h, 8)).join('')}${pad('slowest 1 %', 13)}`,
    ...Object.entries(f.intervals).map(
      ([name, v]) =>
        `    ${name.padEnd(22)}${pad(v.p50, 8)}${pad(v.p90, 8)}${pad(v.p99, 8)}${pad(v.max, 8)}${pad(v.tail_mean, 13)}`,
    ),
    `    GC: ${Object.entries(f.gc)
      .map(([p, g]) => `${p} ${g.pauses} pauses, ${g.total_ms} ms in all, longest ${g.max_ms} ms`)
      .join('; ')}`,
    `    event loop delay (worst second's p99 / max): ${Object.entries(f.loop_delay)
      .map(([p, l]) => `${p} ${l.worst_p99_ms} / ${l.max_ms} ms`)
      .join('; ')}`,
  ];
  return lines.join('\n');
}
