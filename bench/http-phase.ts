/**
 * One measured phase of `npm run load`: autocannon against one route, every request timed here rather
 * than by autocannon's histogram, so that every phase reports the same figures the same way: answers
 * per second, p50/p90/p99/max latency, non-2xx answers, socket errors and timeouts.
 *
 * The latency percentiles count EVERY request sent: answered ones (whatever their status) with their
 * time, and those still unanswered when the phase's clock stopped (autocannon drops them) with their
 * age at that moment — a lower bound, but leaving them out would drop exactly the slowest requests.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';

/** What each request of a phase is: a new body per request, and what to do with each answer. */
export interface PhaseRequests {
  path: string;
  headers: Record<string, string>;
  /** The body of the next request; called once per request sent. */
  body: () => string;
  /**
   * Every answer, with its status and body (for the ids the exactly-once check counts), and the
   * request's body and times (`performance.now()`; bench/load.ts --stages).
   */
  onAnswer?: (status: number, body: string, request: RequestTimes) => void;
  /** autocannon: time when each connection's socket connected (`RequestTimes.connectedAt`; --stages). */
  timeConnects?: boolean;
}

/** One request as sent: its body, when it was written and when its answer came (`performance.now()`). */
export interface RequestTimes {
  body: string;
  sentAt: number;
  answeredAt: number;
  /** A connection's first request (autocannon): when its socket connected, its request then written. */
  connectedAt?: number;
}

export interface PhaseFigures {
  /** How long it ran (a fixed-rate phase: from its start to its last answer). */
  seconds: number;
  connections: number;
  /** Requests written to a socket. */
  sent: number;
  /** Requests that got an answer, whatever its status. */
  answered: number;
  /** Requests without an answer when the clock stopped, or lost to a socket error or a timeout. */
  cut_off: number;
  requests_per_second: number;
  statuses: Record<string, number>;
  non_2xx: number;
  errors: number;
  timeouts: number;
  latency_ms: { p50: number; p90: number; p99: number; max: number };
}

export interface FixedRateFigures extends PhaseFigures {
  /** What was asked. */
  rate: number;
  /** Requests sent per second: below `rate` when answers came later than a connection's next turn. */
  offered_per_second: number;
  /** Answers per second (= requests_per_second). */
  achieved_per_second: number;
  /** How many groups of connections, started evenly over one second (see `fixedRate`). */
  slots: number;
  /** The open-loop client's bound on its sockets (`openLoop`). */
  sockets?: number;
}

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const round1 = (n: number) => Math.round(n * 10) / 10;

/** One request in flight: autocannon hands each request a fresh context object, and its answer the same one. */
interface InFlight {
  sentAt?: number;
  body?: string;
  connectedAt?: number;
}

/**
 * autocannon writes a connection's first request right after `net.connect`, before the socket is
 * connected (node queues it until then): the first request's context gets the moment the socket
 * connected — what it is written then. Its `setupRequest` has run when `setupClient` is called, and
 * `requestIterator.context` is that request's context.
 */
function timeConnect(client: autocannon.Client): void {
  const inner = client as unknown as { conn?: import('node:net').Socket; requestIterator?: { context?: InFlight } };
  const first = inner.requestIterator?.context;
  // the socket is made right after setupClient returns, in the same tick
  process.nextTick(() => {
    inner.conn?.once('connect', () => {
      if (first) first.connectedAt = performance.now();
    });
  });
}

interface Tally {
  sent: number;
  lastSentAt?: number;
  lastAnsweredAt?: number;
  latencies: number[];
  /** The age of each request cut off, when its instance stopped. */
  cutOff: number[];
  statuses: Map<number, number>;
}

const newTally = (): Tally => ({ sent: 0, latencies: [], cutOff: [], statuses: new Map() });

/**
 * One autocannon instance, adding what it sees to `tally`: `done` when it has run `seconds`, or, with
 * `amount`, when that many requests are answered (or `stop` is called).
 */
function cannon(
  url: string,
  requests: PhaseRequests,
  options: { connections: number; seconds: number; timeoutSeconds: number; overallRate?: number; amount?: number },
  tally: Tally,
): { done: Promise<autocannon.Result>; stop: () => void } {
  const inFlight = new Set<InFlight>();
  let instance: autocannon.Instance | undefined;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon(
      {
        url,
        connections: options.connections,
        duration: options.seconds,
        timeout: options.timeoutSeconds,
        ...(requests.timeConnects ? { setupClient: timeConnect } : {}),
        // its histogram is not read (latency is timed here), and under a rate its correction for
        // coordinated omission records a synthetic sample per millisecond of every answer: CPU the
        // load tool spent on nothing, the most exactly when the service is slow
        ...(options.overallRate ? { overallRate: options.overallRate, ignoreCoordinatedOmission: true } : {}),
        ...(options.amount ? { amount: options.amount } : {}),
        requests: [
          {
            method: 'POST',
            path: requests.path,
            headers: requests.headers,
            // called right before the request is written (pipelining 1)
            setupRequest: (request, context) => {
              const flight = context as InFlight;
              flight.sentAt = performance.now();
              inFlight.add(flight);
              tally.sent += 1;
              tally.lastSentAt = flight.sentAt;
              flight.body = requests.body();
              return { ...request, body: flight.body };
            },
            onResponse: (status, body, context) => {
              const flight = context as InFlight;
              tally.lastAnsweredAt = performance.now();
              if (flight.sentAt !== undefined) tally.latencies.push(tally.lastAnsweredAt - flight.sentAt);
              inFlight.delete(flight);
              tally.statuses.set(status, (tally.statuses.get(status) ?? 0) + 1);
              requests.onAnswer?.(status, body, {
                body: flight.body ?? '',
                sentAt: flight.sentAt ?? tally.lastAnsweredAt,
                answeredAt: tally.lastAnsweredAt,
                ...(flight.connectedAt === undefined ? {} : { connectedAt: flight.connectedAt }),
              });
            },
          },
        ],
      },
      (error: unknown, result) => {
        if (error) return reject(error);
        // its connections are closed now: what is still in flight will never be answered
        const stoppedAt = performance.now();
        for (const flight of inFlight) tally.cutOff.push(stoppedAt - (flight.sentAt ?? stoppedAt));
        resolve(result);
      },
    );
  });
  return { done, stop: () => instance?.stop() };
}

/**
 * Figures over the time the instances really ran (autocannon stops at its one-second tick at or after
 * `duration`, and answers are counted until then).
 */
function figures(tally: Tally, results: autocannon.Result[], connections: number): PhaseFigures {
  const sorted = [...tally.latencies, ...tally.cutOff].sort((a, b) => a - b);
  const seconds = results.reduce((s, r) => s + r.duration, 0) / Math.max(1, results.length);
  const statuses = Object.fromEntries([...tally.statuses].sort(([a], [b]) => a - b).map(([s, n]) => [String(s), n]));
  const answered = tally.latencies.length;
  return {
    seconds: Number(seconds.toFixed(2)),
    connections,
    sent: tally.sent,
    answered,
    cut_off: tally.cutOff.length,
    requests_per_second: Math.round(answered / seconds),
    statuses,
    non_2xx: [...tally.statuses].reduce((n, [status, count]) => (status >= 200 && status < 300 ? n : n + count), 0),
    // autocannon counts a timeout as an error too
    errors: results.reduce((n, r) => n + r.errors - r.timeouts, 0),
    timeouts: results.reduce((n, r) => n + r.timeouts, 0),
    latency_ms: {
      p50: round1(percentile(sorted, 50)),
      p90: round1(percentile(sorted, 90)),
      p99: round1(percentile(sorted, 99)),
      max: round1(sorted[sorted.length - 1] ?? 0),
    },
  };
}

/** As many requests as `connections` keep in flight, one at a time each, for `seconds` (closed loop). */
export async function closedLoop(
  url: string,
  requests: PhaseRequests,
  options: { connections: number; seconds: number; timeoutSeconds: number },
): Promise<PhaseFigures> {
  const tally = newTally();
  const result = await cannon(url, requests, options, tally).done;
  return figures(tally, [result], options.connections);
}

/**
 * A fixed offered load of `rate` requests per second for `seconds` (open loop), with autocannon's
 * `overallRate` and one connection per request per second, so that the rate is offered as long as an
 * answer comes within a second (past that a connection sends its next request late, and
 * `offered_per_second` says so).
 *
 * autocannon paces each connection by the second: at the start of each of its seconds a connection sends
 * its share at once, and every connection of one instance starts its seconds together — one instance
 * would offer `rate` requests in one burst each second, and its p99 would measure the burst, not the rate.
 * So the rate is split over `slots` instances started `1000 / slots` ms apart: `rate / slots` requests
 * every `1000 / slots` ms (10 every 20 ms at 500/s). Each connection sends `seconds` requests and the
 * phase ends when all are answered, so no request is cut off while the service keeps up (an overloaded
 * one is stopped at `2 × seconds + 15` s, and what it still holds is counted with its age). Latency is
 * timed here: autocannon's own histogram under `overallRate` adds a synthetic sample for every
 * millisecond of each answer (its coordinated-omission correction, with an expected interval of
 * ⌈1 / rate⌉ = 1 ms) and is no latency distribution.
 */
export async function fixedRate(
  url: string,
  requests: PhaseRequests,
  options: { rate: number; seconds: number; timeoutSeconds: number; slots?: number },
): Promise<FixedRateFigures> {
  const slots = Math.max(1, Math.min(options.slots ?? 50, options.rate));
  const tally = newTally();
  const runs: ReturnType<typeof cannon>[] = [];
  const started = performance.now();
  const guard = setTimeout(
    () => {
      for (const run of runs) run.stop();
    },
    (options.seconds * 2 + 15) * 1_000,
  );
  for (let slot = 0; slot < slots; slot += 1) {
    const share = Math.floor(options.rate / slots) + (slot < options.rate % slots ? 1 : 0);
    const due = started + (slot * 1_000) / slots;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now())));
    runs.push(
      cannon(
        url,
        requests,
        {
          connections: share,
          overallRate: share,
          amount: share * options.seconds,
          seconds: options.seconds,
          timeoutSeconds: options.timeoutSeconds,
        },
        tally,
      ),
    );
  }
  const results = await Promise.all(runs.map((run) => run.done));
  clearTimeout(guard);
  const base = figures(tally, results, options.rate);
  // a phase that keeps up sends its last requests `seconds - 1/slots` after its first (one slot more is
  // `seconds`), and has its last answer one latency later
  const sendingSeconds = ((tally.lastSentAt ?? started) - started) / 1_000 + 1 / slots;
  const answeringSeconds = ((tally.lastAnsweredAt ?? started) - started) / 1_000 + 1 / slots;
  return {
    ...base,
    seconds: Number(answeringSeconds.toFixed(2)),
    requests_per_second: Math.round(base.answered / answeringSeconds),
    rate: options.rate,
    offered_per_second: Math.round(tally.sent / sendingSeconds),
    achieved_per_second: Math.round(base.answered / answeringSeconds),
    slots,
  };
}

/**
 * The same fixed offered load as `fixedRate`, from a plain open-loop client instead of autocannon (to
 * tell the load tool's own delays from the service's): node's http with a keep-alive agent, a timer
 * every millisecond sending what is due by then (`rate` per second, evenly), each request on a free
 * socket or a new one (at most `sockets`, all opened before the clock starts; past that a request
 * waits in the agent for one), never waiting for an earlier answer otherwise. Latency counts from
 * when the request was due, so a client that falls behind its schedule, or waits for a socket, shows
 * in the figures instead of hiding.
 * Unbounded, a slow start opened hundreds of sockets at once and overflowed the api's listen queue
 * (SYN retransmits of 1 s, 3 s, 7 s: the kernel's ListenOverflows counter).
 */
export async function openLoop(
  url: string,
  requests: PhaseRequests,
  options: { rate: number; seconds: number; timeoutSeconds: number; sockets?: number },
): Promise<FixedRateFigures> {
  const target = new URL(requests.path, url);
  const sockets = options.sockets ?? 100;
  const agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  const tally = newTally();
  const total = options.rate * options.seconds;
  let errors = 0;
  let timeouts = 0;
  const inFlight = new Set<number>();
  // the sockets are opened before the clock starts, as a client that keeps its connections does
  await Promise.all(
    Array.from(
      { length: sockets },
      () =>
        new Promise<void>((resolve) => {
          const warm = http.get(new URL('/healthz', url), { agent }, (response) => {
            response.resume();
            response.on('end', () => resolve());
          });
          warm.on('error', () => resolve());
        }),
    ),
  );
  const started = performance.now();
  const send = (dueAt: number) =>
    new Promise<void>((resolve) => {
      const body = requests.body();
      const sentAt = performance.now();
      tally.sent += 1;
      tally.lastSentAt = sentAt;
      inFlight.add(dueAt);
      const request = http.request(
        target,
        {
          method: 'POST',
          agent,
          headers: { ...requests.headers, 'content-length': Buffer.byteLength(body) },
          timeout: options.timeoutSeconds * 1_000,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            const answeredAt = performance.now();
            tally.lastAnsweredAt = answeredAt;
            inFlight.delete(dueAt);
            tally.latencies.push(answeredAt - dueAt);
            const status = response.statusCode ?? 0;
            tally.statuses.set(status, (tally.statuses.get(status) ?? 0) + 1);
            requests.onAnswer?.(status, Buffer.concat(chunks).toString(), { body, sentAt, answeredAt });
            resolve();
          });
        },
      );
      request.on('timeout', () => {
        timeouts += 1;
        request.destroy(new Error('timeout'));
      });
      request.on('error', () => {
        if (inFlight.delete(dueAt)) {
          errors += 1;
          tally.cutOff.push(performance.now() - dueAt);
        }
        resolve();
      });
      request.end(body);
    });
  const all: Promise<void>[] = [];
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - started) * options.rate) / 1_000) + 1);
      while (all.length < due) all.push(send(started + (all.length * 1_000) / options.rate));
      if (all.length >= total) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  await Promise.all(all);
  agent.destroy();
  const sorted = [...tally.latencies, ...tally.cutOff].sort((a, b) => a - b);
  const answered = tally.latencies.length;
  const sendingSeconds = ((tally.lastSentAt ?? started) - started) / 1_000 + 1 / options.rate;
  const answeringSeconds = ((tally.lastAnsweredAt ?? started) - started) / 1_000 + 1 / options.rate;
  const statuses = Object.fromEntries([...tally.statuses].sort(([a], [b]) => a - b).map(([s, n]) => [String(s), n]));
  return {
    seconds: Number(answeringSeconds.toFixed(2)),
    connections: 0,
    sent: tally.sent,
    answered,
    cut_off: tally.cutOff.length,
    requests_per_second: Math.round(answered / answeringSeconds),
    statuses,
    non_2xx: [...tally.statuses].reduce((n, [status, count]) => (status >= 200 && status < 300 ? n : n + count), 0),
    errors: errors - timeouts,
    timeouts,
    latency_ms: {
      p50: round1(percentile(sorted, 50)),
      p90: round1(percentile(sorted, 90)),
      p99: round1(percentile(sorted, 99)),
      max: round1(sorted[sorted.length - 1] ?? 0),
    },
    rate: options.rate,
    offered_per_second: Math.round(tally.sent / sendingSeconds),
    achieved_per_second: Math.round(answered / answeringSeconds),
    slots: 0,
    sockets,
  };
}
