import { type ZodType, z } from 'zod';
import type { AnyRoute } from './route.js';

/**
 * The OpenAPI 3.1 document, generated from the same zod schemas that validate requests and shape
 * responses: nothing is kept by hand beside the code. Schemas carrying `.meta({ id })` become
 * components, referenced by `$ref`.
 */
type Json = Record<string, unknown>;

const problemSchema: Json = {
  type: 'object',
  required: ['type', 'title', 'status', 'detail', 'code'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    code: {
      type: 'string',
      enum: [
        'validation_failed',
        'not_found',
        'conflict',
        'idempotency_conflict',
        'insufficient_balance',
        'unauthorized',
        'forbidden',
        'rate_limited',
        'unavailable',
        'payload_too_large',
      ],
    },
    errors: {
      type: 'array',
      items: { type: 'object', properties: { field: { type: 'string' }, message: { type: 'string' } } },
    },
  },
};

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

export function buildOpenApi(routes: readonly AnyRoute[], info: { version: string }): Json {
  const components: Json = {};
  const paths: Record<string, Json> = {};
  for (const route of routes) {
    const responses: Json = {};
    for (const [status, spec] of Object.entries(route.responses)) {
      const contentType = spec.contentType ?? (Number(status) >= 400 ? 'application/problem+json' : 'application/json');
      responses[status] = {
        description: spec.description,
        ...(spec.schema ? { content: { [contentType]: { schema: schemaOf(spec.schema, 'output', components) } } } : {}),
      };
    }
    if (route.access !== 'public') {
      responses['401'] ??= {
        description: 'No key, or a key that is not valid',
        content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
      };
      responses['403'] ??= {
        description: `The key lacks the \`${route.access}\` scope`,
        content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
      };
    }
    if (route.body || route.query || route.params) {
      responses['422'] ??= {
        description: 'Invalid input (see `errors`)',
        content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
      };
    }
    paths[route.path] ??= {};
    paths[route.path]![route.method] = {
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      tags: [route.tag],
      operationId: `${route.method}${route.path.replace(/[{}]/g, '').replace(/[/_-](\w)/g, (_, c: string) => c.toUpperCase())}`,
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
  components.Problem = problemSchema;
  return {
    openapi: '3.1.0',
    info: {
      title: 'credits',
      version: info.version,
      description:
        "Sells a business's services to its clients as consumable credit balances. Quantities are decimal strings; money is integer minor units. Errors are application/problem+json with a `code`.",
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
  };
}

/** A page that renders the document with Swagger UI, served from the npm package (no CDN). */
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

export const docsInitScript = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true });`;
