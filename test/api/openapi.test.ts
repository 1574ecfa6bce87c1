/**
 * The OpenAPI document served at /openapi.json and Swagger UI at /docs: every route mounted on the
 * Express app is documented and nothing else is, the document is valid OpenAPI 3.1, and what each route
 * declares (auth, scope, idempotency, headers, problems) reaches the document.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { compileErrors, validate } from '@readme/openapi-parser';
import type express from 'express';
import { buildRoutes, createApp } from '../../api/app';
import type { RouteSpec } from '../../api/http/route';
import { createLogger } from '../../platform/logger';
import { http, startStack, type TestStack } from '../support/stack';

let stack: TestStack;
let app: express.Express;
let server: Server;
let api: { url: string };
let doc: any;

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace'] as const;
const PROBLEM = { $ref: '#/components/schemas/Problem' };

beforeAll(async () => {
  stack = await startStack();
  const deps = { config: stack.config, pool: stack.pool, redis: stack.redis, temporal: stack.temporal, log: createLogger(stack.config, 'openapi-test') };
  // Our own app instance, so its router can be walked; it shares the stack's connections.
  app = createApp(deps);
  server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  api = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
  const res = await http(api, 'GET', '/openapi.json');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  doc = res.body;
});
afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await stack?.close();
});

/** `METHOD /path/{param}` of every route layer of the app's router (Express 5). */
function mountedRoutes(): string[] {
  const found: string[] = [];
  for (const layer of (app as unknown as { router: { stack: any[] } }).router.stack) {
    if (layer.route) {
      const paths: string[] = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
      for (const method of Object.keys(layer.route.methods)) {
        if (method === '_all') throw new Error(`app.all(${paths.join(', ')}) cannot be documented per method`);
        for (const path of paths) found.push(`${method.toUpperCase()} ${path.replace(/:(\w+)/g, '{$1}')}`);
      }
    } else if (Array.isArray(layer.handle?.stack) && layer.handle.stack.some((l: any) => l.route)) {
      throw new Error('a nested router holds routes: this test only walks a flat app');
    }
  }
  return found.sort();
}

function documentedOperations(): string[] {
  return Object.entries(doc.paths as Record<string, Record<string, unknown>>)
    .flatMap(([path, item]) => METHODS.filter((m) => item[m]).map((m) => `${m.toUpperCase()} ${path}`))
    .sort();
}

const operation = (method: string, path: string) => doc.paths[path]?.[method];

describe('the document covers the app', () => {
  it('documents every mounted route, and nothing that is not mounted', () => {
    const mounted = mountedRoutes();
    expect(mounted.length).toBeGreaterThan(20);
    expect(mounted).toContain('GET /openapi.json');
    expect(mounted).toContain('GET /docs');
    expect(documentedOperations()).toEqual(mounted);
  });

  it('is a valid OpenAPI 3.1 document', async () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    const result = await validate(structuredClone(doc));
    if (!result.valid) throw new Error(compileErrors(result));
    expect(result.warnings).toEqual([]);
  });

  it('documents, for every route of the table, its auth, scope and automatic problems', () => {
    const { routes } = buildRoutes({
      config: stack.config,
      pool: stack.pool,
      redis: stack.redis,
      temporal: stack.temporal,
      log: createLogger(stack.config, 'openapi-test'),
    });
    const problemStatuses = (op: any) =>
      Object.entries(op.responses as Record<string, any>)
        .filter(([, r]) => r.content?.['application/problem+json']?.schema?.$ref === PROBLEM.$ref)
        .map(([status]) => Number(status));
    for (const route of routes as RouteSpec[]) {
      const op = operation(route.method, route.path.replace(/:(\w+)/g, '{$1}'));
      const where = `${route.method} ${route.path}`;
      expect({ where, summary: op?.summary }).toEqual({ where, summary: route.summary });
      const statuses = problemStatuses(op);
      expect({ where, has500: statuses.includes(500) }).toEqual({ where, has500: true });
      for (const status of Object.keys(route.responses))
        expect({ where, status, documented: status in op.responses }).toEqual({ where, status, documented: true });
      if (route.auth === 'bearer') {
        expect({ where, security: op.security }).toEqual({ where, security: [{ bearerAuth: route.scope ? [route.scope] : [] }] });
        expect({ where, scope: op['x-required-scope'] }).toEqual({ where, scope: route.scope });
        expect({ where, statuses }).toEqual({ where, statuses: expect.arrayContaining([401, 429, ...(route.scope ? [403] : [])]) });
      } else {
        expect({ where, security: op.security }).toEqual({ where, security: route.auth === 'inbound' ? [{ inboundSignature: [] }] : [] });
      }
      if (route.request?.body) expect({ where, statuses }).toEqual({ where, statuses: expect.arrayContaining([400, 413, 415]) });
      if (route.path.includes(':')) expect({ where, statuses }).toEqual({ where, statuses: expect.arrayContaining([404]) });
    }
  });
});

describe('spot checks', () => {
  it('POST /api/v1/tickets: Idempotency-Key, 201 with Location, bearer problems and the tickets:write scope', () => {
    const op = operation('post', '/api/v1/tickets');
    expect(op.parameters).toContainEqual({ $ref: '#/components/parameters/IdempotencyKey' });
    expect(doc.components.parameters.IdempotencyKey).toMatchObject({ name: 'Idempotency-Key', in: 'header', required: false });
    expect(op.requestBody).toMatchObject({ required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/CreateTicketInput' } } } });

    expect(op.responses['201'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Ticket' });
    expect(op.responses['201'].headers).toMatchObject({ Location: { $ref: '#/components/headers/Location' }, ETag: { $ref: '#/components/headers/ETag' } });
    expect(op.responses['201'].headers).toHaveProperty('RateLimit');
    expect(doc.components.headers.Location).toBeDefined();

    for (const status of ['401', '403', '429']) expect(op.responses[status].content['application/problem+json'].schema).toEqual(PROBLEM);
    expect(op.responses['401'].headers).toHaveProperty('WWW-Authenticate');
    expect(op.responses['429'].headers).toMatchObject({ 'Retry-After': { $ref: '#/components/headers/Retry-After' } });
    expect(op.responses['403'].description).toContain('tickets:write');
    expect(op.security).toEqual([{ bearerAuth: ['tickets:write'] }]);
    expect(op['x-required-scope']).toBe('tickets:write');
    expect(op.description).toContain('tickets:write');
    // The route's own 422 (unknown customer) and the Idempotency-Key misuse share the status.
    expect(op.responses['422'].description).toMatch(/Unknown customer[\s\S]*Idempotency-Key/);
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.components.securitySchemes.bearerAuth.description).toMatch(/\/api\/v1\/auth\/login[\s\S]*dfk_/);
  });

  it('conditional requests: If-Match on PATCH, If-None-Match and ETag on GET', () => {
    const patch = operation('patch', '/api/v1/tickets/{id}');
    expect(patch.parameters).toContainEqual({ $ref: '#/components/parameters/IfMatch' });
    expect(patch.parameters).toContainEqual(expect.objectContaining({ name: 'id', in: 'path', required: true }));
    expect(patch.responses['412'].content['application/problem+json'].schema).toEqual(PROBLEM);
    const get = operation('get', '/api/v1/tickets/{id}');
    expect(get.parameters).toContainEqual({ $ref: '#/components/parameters/IfNoneMatch' });
    expect(get.responses['200'].headers).toHaveProperty('ETag');
    expect(get.responses['304']).toBeDefined();
  });

  it('the inbound route is signed, not bearer', () => {
    const op = operation('post', '/api/v1/inbound/{tenant}/email');
    expect(op.security).toEqual([{ inboundSignature: [] }]);
    expect(JSON.stringify(op)).not.toContain('bearerAuth');
    expect(op.responses['403']).toBeUndefined();
    expect(op.responses['401'].content['application/problem+json'].schema).toEqual(PROBLEM);
    expect(doc.components.securitySchemes.inboundSignature).toMatchObject({ type: 'apiKey', in: 'header', name: 'X-Deskflow-Signature' });
  });

  it('public routes need no credential', () => {
    for (const [method, path] of [
      ['get', '/healthz'],
      ['post', '/api/v1/auth/login'],
      ['get', '/openapi.json'],
      ['get', '/docs'],
    ] as const) {
      expect({ path, security: operation(method, path).security }).toEqual({ path, security: [] });
    }
    expect(operation('get', '/healthz').responses['401']).toBeUndefined();
  });
});

describe('Swagger UI', () => {
  it('/docs redirects to /docs/, which serves the page and its local assets', async () => {
    const redirect = await fetch(`${api.url}/docs`, { redirect: 'manual' });
    expect(redirect.status).toBe(301);
    expect(new URL(redirect.headers.get('location')!, `${api.url}/docs`).pathname).toBe('/docs/');

    const page = await http<string>(api, 'GET', '/docs'); // follows the redirect
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.body.toLowerCase()).toContain('swagger');
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-eval');

    const assets = [...page.body.matchAll(/(?:src|href)="\.\/([^"]+)"/g)].map((m) => m[1]!);
    expect(assets).toEqual(expect.arrayContaining(['swagger-ui.css', 'swagger-ui-bundle.js', 'swagger-ui-init.js']));
    expect(page.body).not.toMatch(/(?:src|href)="https?:/); // nothing from a CDN
    for (const asset of assets) {
      const res = await fetch(`${api.url}/docs/${asset}`);
      expect({ asset, status: res.status }).toEqual({ asset, status: 200 });
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(0);
    }
    const init = await http<string>(api, 'GET', '/docs/swagger-ui-init.js');
    expect(init.body).toContain('../openapi.json');
  });

  it('serves nothing else of swagger-ui-dist (its demo page, its package.json)', async () => {
    for (const path of ['/docs/index.html', '/docs/swagger-initializer.js', '/docs/package.json']) {
      const res = await http(api, 'GET', path);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    }
  });
});
