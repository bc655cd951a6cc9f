import { type ZodType, z } from 'zod';
import { EVENT_TYPES } from '../domain/event.js';
import { eventSchemaOf } from '../webhooks/event-schemas.js';
import { DEFAULT_PROBLEMS, problemSchema } from './problem-schemas.js';
import type { AnyRoute, ResponseSpec } from './route.js';

/**
 * The OpenAPI 3.1 document, generated from the same zod schemas that validate requests and shape
 * responses: nothing is kept by hand beside the code. Schemas carrying `.meta({ id })` become
 * components, referenced by `$ref`.
 */
type Json = Record<string, unknown>;

function rewriteRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (value && typeof value === 'object') {
    const out: Json = {};
    for (const [key, child] of Object.entries(value)) {
      if (key === '$ref' && typeof child === 'string' && child.startsWith('#/$defs/'))
        out[key] = `#/components/schemas/${child.slice(8)}`;
      else if (key !== '$schema') out[key] = rewriteRefs(child);
    }
    return out;
  }
  return value;
}

function schemaOf(schema: ZodType, io: 'input' | 'output', components: Json): Json {
  const json = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Json;
  const defs = (json.$defs ?? {}) as Record<string, unknown>;
  delete json.$defs;
  for (const [name, def] of Object.entries(defs)) components[name] ??= rewriteRefs(def);
  return rewriteRefs(json) as Json;
}

function parametersOf(route: AnyRoute, components: Json): Json[] {
  const parameters: Json[] = [];
  const add = (where: 'path' | 'query', schema: ZodType | undefined) => {
    if (!schema) return;
    const json = schemaOf(schema, 'input', components);
    const properties = (json.properties ?? {}) as Record<string, Json>;
    const required = new Set((json.required ?? []) as string[]);
    for (const [name, property] of Object.entries(properties)) {
      parameters.push({
        name,
        in: where,
        required: where === 'path' || required.has(name),
        schema: property,
        ...(property.description ? { description: property.description } : {}),
      });
    }
  };
  add('path', route.params);
  add('query', route.query);
  if (route.idempotency) {
    parameters.push({
      name: 'Idempotency-Key',
      in: 'header',
      required: false,
      schema: { type: 'string', maxLength: 255 },
      description:
        route.idempotency === 'stored'
          ? 'Same key and body: the first response is replayed. Same key, other body: 409 idempotency_conflict.'
          : "Becomes the job's idempotency key: the same key never makes a second job.",
    });
  }
  return parameters;
}

/**
 * What a route may answer: what it declares, and the problems every route can answer besides — bad
 * input or a stray body (422), a body over BODY_LIMIT (413), an unexpected failure (500), and for a
 * route behind a key, no key (401), a small scope (403), the rate limit (429) and an outage (503).
 */
function responsesOf(route: AnyRoute): Record<number, ResponseSpec> {
  const declared: Record<number, ResponseSpec> = { ...route.responses };
  const always = [413, 422, 500, ...(route.access === 'public' ? [] : [401, 403, 429, 503])];
  for (const status of always) declared[status] ??= DEFAULT_PROBLEMS[status]!;
  if (route.access !== 'public')
    declared[403] = { ...declared[403]!, description: `The key lacks the \`${route.access}\` scope` };
  return declared;
}

const isJsonType = (type: string): boolean => /^application\/(?:[\w.+-]+\+)?json$/.test(type);

/**
 * One response: its media types, each with its schema. A problem status without a schema of its
 * own gets the default problem of that status; a text type without one is a string.
 */
function responseOf(status: number, spec: ResponseSpec, components: Json): Json {
  const problem = status >= 400;
  const schema = spec.schema ?? (problem ? (DEFAULT_PROBLEMS[status]?.schema ?? problemSchema) : undefined);
  const types =
    spec.contentType === undefined
      ? schema
        ? [problem ? 'application/problem+json' : 'application/json']
        : []
      : [spec.contentType].flat();
  const content: Json = {};
  for (const type of types) {
    content[type] = {
      schema: isJsonType(type) ? (schema ? schemaOf(schema, 'output', components) : {}) : { type: 'string' },
    };
  }
  return { description: spec.description, ...(types.length > 0 ? { content } : {}) };
}

export function buildOpenApi(routes: readonly AnyRoute[], info: { version: string }): Json {
  const components: Json = {};
  const paths: Record<string, Json> = {};
  for (const route of routes) {
    const responses: Json = {};
    for (const [status, spec] of Object.entries(responsesOf(route)).sort(([a], [b]) => Number(a) - Number(b)))
      responses[status] = responseOf(Number(status), spec, components);
    paths[route.path] ??= {};
    paths[route.path]![route.method] = {
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      tags: [route.tag],
      operationId:
        route.method + route.path.replace(/[{}]/g, '').replace(/[/_-](\w)/g, (_, c: string) => c.toUpperCase()),
      security: route.access === 'public' ? [] : [{ bearer: [] }],
      ...(route.access !== 'public' ? { 'x-required-scope': route.access } : {}),
      parameters: parametersOf(route, components),
      ...(route.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: schemaOf(route.body, 'input', components) } },
            },
          }
        : {}),
      responses,
    };
  }
  schemaOf(problemSchema, 'output', components);
  const webhooks = webhooksOf(components);
  return {
    openapi: '3.1.0',
    info: {
      title: 'credits',
      version: info.version,
      description:
        "Sells a business's services to its clients as consumable credit balances. Quantities are decimal " +
        'strings; money is integer minor units. Errors are application/problem+json with a `code`.',
    },
    servers: [{ url: '/' }],
    components: {
      schemas: components,
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'An API key made with `npm run cli -- keys create --scope <admin|write|read>`.',
        },
      },
    },
    paths,
    webhooks,
  };
}

/**
 * The document's `webhooks` section: one POST per event type, its body the event's envelope and `data`
 * (src/webhooks/event-schemas.ts), signed with the Standard Webhooks headers.
 */
function webhooksOf(components: Json): Record<string, Json> {
  const headers = {
    'webhook-id': 'The event id (the same on every retry): the de-duplication key',
    'webhook-timestamp': 'Unix seconds of this attempt',
    'webhook-signature':
      '`v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>">` keyed with the base64-decoded part of ' +
      "the endpoint's `whsec_` secret; two, space-separated, during a secret rotation's grace period",
    'credits-event-id': 'The event id',
    'credits-event-type': 'The event type',
    'credits-event-seq':
      "The event's `seq` in GET /v1/events (every event, in commit order): what a receiver that reconciles " +
      'matches its deliveries by (they come in no set order)',
    'credits-delivery-id': 'The delivery (one per endpoint and event)',
    'credits-delivery-attempt': 'The attempt number, from 1',
  };
  const webhooks: Record<string, Json> = {};
  for (const type of EVENT_TYPES) {
    webhooks[type] = {
      post: {
        summary: `The \`${type}\` event`,
        operationId: `event${type.replace(/(?:^|[._])(\w)/g, (_, c: string) => c.toUpperCase())}`,
        tags: ['webhooks'],
        parameters: Object.entries(headers).map(([name, description]) => ({
          name,
          in: 'header',
          required: true,
          description,
          schema: { type: 'string' },
        })),
        requestBody: {
          required: true,
          content: { 'application/json': { schema: schemaOf(eventSchemaOf(type), 'output', components) } },
        },
        responses: {
          '2XX': { description: 'Received: the delivery is done' },
          default: { description: 'Anything else is retried with backoff, then the endpoint is disabled' },
        },
      },
    };
  }
  return webhooks;
}

/** A page that renders the document with Swagger UI, served from the npm package (no CDN). */
/**
 * The docs page's Content-Security-Policy (the service's front steps set none: each page sets its own). Swagger UI is
 * served from this origin with no inline script or style (its styles are set through the DOM, which the policy
 * allows); test/browser/docs.browser.test.ts opens it and an operation with no violation reported.
 */
export const DOCS_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'self'",
].join('; ');

export function docsPage(): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>credits API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>`;
}

export const docsInitScript =
  "window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true });";
