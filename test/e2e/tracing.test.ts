import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import { SpanKind } from '@opentelemetry/api';
import {
  InMemorySpanExporter,
  NodeTracerProvider,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, REPO_ROOT, ServiceProcess } from '../../chaos/services.js';
import { enableTracing } from '../../src/telemetry.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';
import { serviceEnv } from '../helpers/service-env.js';

/**
 * Issue 16, traces: with tracing on, the spans of one use form one chain in one trace — the HTTP
 * request (continuing the caller's traceparent) → its acceptance → the worker's job (BullMQ's
 * telemetry, from the context the job carried) → the micro-batch that applied it → its SQL. Spans go
 * to an in-memory exporter; the service, Postgres and Redis are real.
 */
const exporter = new InMemorySpanExporter();
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

describe('a use traced from its request to its SQL', () => {
  let app: TestApp;
  beforeAll(async () => {
    const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    provider.register();
    enableTracing();
    app = await startTestApp({ roles: ['api', 'worker'] });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('one trace: SERVER request → accept → job → batch → pg statements', async () => {
    const sms = await createCreditType(app, { code: 'trace-sms' });
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
    const client = await createClient(app);
    await subscribe(app, client.id, pkg.code);
    exporter.reset();

    const traceId = randomBytes(16).toString('hex');
    const callerSpan = randomBytes(8).toString('hex');
    const res = await app.request('POST', '/v1/consumptions?wait=true', {
      key: app.keys.write,
      headers: { traceparent: `00-${traceId}-${callerSpan}-01` },
      body: { client: client.id, credit_type: sms.code, quantity: 3, idempotency_key: 'traced-1' },
    });
    expect(res.status, res.text).toBe(200);

    // the job's span ends a moment after the answer left (BullMQ ends it once the job is moved)
    const spans = () => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
    const find = (name: RegExp, kind?: SpanKind) =>
      spans().find((s) => name.test(s.name) && (kind === undefined || s.kind === kind));
    for (let i = 0; i < 1_000 && !(find(/^process/) && find(/^POST/)); i += 1)
      await new Promise((r) => setImmediate(r));

    const server = find(/^POST \/v1\/consumptions$/, SpanKind.SERVER);
    expect(
      server,
      spans()
        .map((s) => s.name)
        .join(', '),
    ).toBeDefined();
    expect(parentOf(server!)).toBe(callerSpan);
    expect(server!.attributes['http.response.status_code']).toBe(200);

    const accept = find(/^accept$/, SpanKind.PRODUCER);
    expect(accept).toBeDefined();
    expect(parentOf(accept!)).toBe(server!.spanContext().spanId);
    expect(accept!.attributes['credits.jobs']).toBe('consume');

    const job = find(/^process/, SpanKind.CONSUMER);
    expect(
      job,
      spans()
        .map((s) => `${s.name}/${s.kind}`)
        .join(', '),
    ).toBeDefined();
    expect(parentOf(job!)).toBe(accept!.spanContext().spanId);

    const batch = find(/^consume batch$/);
    expect(batch).toBeDefined();
    expect(parentOf(batch!)).toBe(job!.spanContext().spanId);
    expect(batch!.attributes['credits.batch.size']).toBe(1);
    expect(batch!.links.map((l) => l.context.spanId)).toEqual([job!.spanContext().spanId]);

    const statements = spans().filter((s) => s.kind === SpanKind.CLIENT && s.name.startsWith('pg '));
    const inBatch = statements.filter((s) => parentOf(s) === batch!.spanContext().spanId);
    expect(inBatch.map((s) => s.name)).toContain('pg BEGIN');
    expect(inBatch.map((s) => s.name)).toContain('pg COMMIT');
    expect(inBatch.length).toBeGreaterThan(2);
    for (const s of inBatch) expect(s.attributes['db.system.name']).toBe('postgresql');
    // the values of a statement are never recorded, only its text
    expect(JSON.stringify(inBatch.map((s) => s.attributes))).not.toContain('traced-1');
  });
});

describe('the service exports its spans over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set', () => {
  it('a real process posts the spans of a request to the collector, and flushes them at SIGTERM', async () => {
    const app = await startTestApp({ now: new Date().toISOString() });
    const dir = path.join(REPO_ROOT, '.data', `test-otlp-${randomBytes(4).toString('hex')}`);
    mkdirSync(dir, { recursive: true });
    const received: Array<{ url: string; type: string; body: string }> = [];
    const collector = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({
          url: req.url ?? '',
          type: String(req.headers['content-type']),
          body: Buffer.concat(chunks).toString('latin1'),
        });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    const address = collector.address();
    const collectorPort = typeof address === 'object' && address ? address.port : 0;
    const port = await freePort();
    const service = new ServiceProcess(
      'otlp',
      'api',
      {
        ...serviceEnv(app, port, dir),
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collectorPort}`,
        OTEL_SERVICE_NAME: 'credits-otlp-test',
      },
      path.join(dir, 'service.log'),
    );
    try {
      await service.waitUp(60_000);
      const res = await fetch(`http://127.0.0.1:${port}/v1/credit-types`, {
        headers: { authorization: `Bearer ${app.keys.read}` },
      });
      expect(res.status).toBe(200);
    } finally {
      service.stoppedOnPurpose = true;
      service.child.kill('SIGTERM');
      expect(await service.exited).toEqual({ code: 0, signal: null });
      await new Promise<void>((resolve) => collector.close(() => resolve()));
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
    const traces = received.filter((r) => r.url === '/v1/traces');
    expect(traces.length, JSON.stringify(received.map((r) => r.url))).toBeGreaterThan(0);
    const all = traces.map((t) => t.body).join('');
    expect(all).toContain('credits-otlp-test');
    expect(all).toContain('GET /v1/credit-types');
  }, 90_000);
});
