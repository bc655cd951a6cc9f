import {
  type Attributes,
  context,
  type Link,
  propagation,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { Telemetry } from 'bullmq';
import { BullMQOtel } from 'bullmq-otel';
import pg from 'pg';

/**
 * OpenTelemetry traces, off unless OTEL_EXPORTER_OTLP_ENDPOINT is set (the exporter reads the
 * standard OTEL_* variables itself). When on, one use is followed from its HTTP request (a SERVER
 * span, continuing a caller's `traceparent`), through its acceptance and enqueue (the job carries
 * that context in BullMQ's telemetry metadata) to the worker's job span (bullmq-otel, BullMQ's own
 * telemetry hook), the micro-batch that applied it (linked to every job it holds) and each SQL
 * statement (node-postgres, which knex uses too). Off, none of this runs: the API's tracer is a no-op
 * and nothing is patched.
 */
export const tracer = trace.getTracer('credits');

let enabled = false;
let bullmq: Telemetry | undefined;

export const tracingEnabled = (): boolean => enabled;

/**
 * Turns the instrumentation on for spans going to whatever provider is registered globally: the OTLP
 * exporter of `startTracing`, or a test's in-memory one.
 */
export function enableTracing(): void {
  if (enabled) return;
  enabled = true;
  bullmq = new BullMQOtel({ tracerName: 'credits-bullmq' });
  tracePostgres();
}

/** At start, with OTEL_EXPORTER_OTLP_ENDPOINT set: spans go out over OTLP/HTTP; the function returned flushes them. */
export function startTracing(
  env: NodeJS.ProcessEnv,
  service: { name: string; version: string },
): (() => Promise<void>) | undefined {
  if (!env.OTEL_EXPORTER_OTLP_ENDPOINT && !env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return undefined;
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({
      'service.name': env.OTEL_SERVICE_NAME ?? service.name,
      'service.version': service.version,
    }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  // the AsyncLocalStorage context manager and the W3C trace-context propagator
  provider.register();
  enableTracing();
  return () => provider.shutdown();
}

/** BullMQ's telemetry for queues and workers (undefined, and so free, when tracing is off). */
export const bullmqTelemetry = (): Telemetry | undefined => bullmq;

/**
 * The active context as BullMQ's telemetry metadata (what bullmq-otel reads back in the worker), for
 * a job enqueued later and elsewhere — by the admitter's group, not by the request that asked for it.
 */
export function jobTraceMetadata(): string | undefined {
  if (!enabled) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return Object.keys(carrier).length > 0 ? JSON.stringify(carrier) : undefined;
}

/** The active span's context, to link a batch to each job it applies. */
export const activeSpanContext = (): SpanContext | undefined =>
  enabled ? trace.getSpanContext(context.active()) : undefined;

/** Runs `work` in a span (a child of the active one); off, it just runs `work`. */
export async function inSpan<T>(
  name: string,
  options: { kind?: SpanKind; attributes?: Attributes; links?: Link[] },
  work: (span: Span | undefined) => Promise<T>,
): Promise<T> {
  if (!enabled) return await work(undefined);
  return await tracer.startActiveSpan(name, options, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw error;
    } finally {
      span.end();
    }
  });
}

/** Starts the SERVER span of an HTTP request, continuing the caller's trace (`traceparent`). */
export function startRequestSpan(
  method: string,
  headers: Record<string, string | string[] | undefined>,
): { span: Span; run<T>(fn: () => T): T } {
  const parent = propagation.extract(context.active(), headers);
  const span = tracer.startSpan(
    `${method}`,
    { kind: SpanKind.SERVER, attributes: { 'http.request.method': method } },
    parent,
  );
  const active = trace.setSpan(parent, span);
  return { span, run: (fn) => context.with(active, fn) };
}

type QueryFn = (...args: unknown[]) => unknown;
const PATCHED = Symbol.for('credits.tracePostgres');

/**
 * A CLIENT span for every statement node-postgres sends (the hot path's pool and knex alike), a
 * child of whatever span is active when it is sent, named by the statement's first words and
 * carrying its text (values are never recorded). A streamed query (pg-query-stream) is left alone.
 */
function tracePostgres(): void {
  const proto = pg.Client.prototype as unknown as { query: QueryFn; [PATCHED]?: true };
  if (proto[PATCHED]) return;
  proto[PATCHED] = true;
  const original = proto.query;
  proto.query = function tracedQuery(this: unknown, ...args: unknown[]): unknown {
    const first = args[0] as { text?: unknown; submit?: unknown } | string | undefined;
    if (!enabled || (typeof first === 'object' && first !== null && typeof first.submit === 'function'))
      return original.apply(this, args);
    const text = typeof first === 'string' ? first : typeof first?.text === 'string' ? first.text : '';
    const operation = /^\s*(\w+)/.exec(text)?.[1]?.toUpperCase() ?? 'QUERY';
    const span = tracer.startSpan(`pg ${operation}`, {
      kind: SpanKind.CLIENT,
      attributes: {
        'db.system.name': 'postgresql',
        'db.operation.name': operation,
        'db.query.text': text.slice(0, 2_000),
      },
    });
    const end = (error: unknown) => {
      if (error) {
        span.recordException(error as Error);
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.end();
    };
    const last = args[args.length - 1];
    if (typeof last === 'function') {
      const callback = last as (error: unknown, result: unknown) => void;
      args[args.length - 1] = (error: unknown, result: unknown) => {
        end(error);
        callback(error, result);
      };
      return original.apply(this, args);
    }
    const result = original.apply(this, args) as Promise<unknown>;
    return result.then(
      (value) => {
        end(undefined);
        return value;
      },
      (error: unknown) => {
        end(error);
        throw error;
      },
    );
  };
}
