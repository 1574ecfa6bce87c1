/**
 * Every HTTP route is declared once, as data: method, path, auth, scope and the zod schemas of its
 * request and responses. `mountRoutes` wires Express from it and api/openapi.ts documents it from it,
 * so the OpenAPI document cannot drift from what is mounted.
 */
import { context, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Express, RequestHandler } from 'express';
import type { z } from 'zod';
import type { Scope } from '../../domain/auth';

export interface ResponseSpec {
  description: string;
  body?: z.ZodType;
  headers?: string[];
}

export interface RouteSpec {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** Express syntax, full path: `/api/v1/tickets/:id`. */
  path: string;
  summary: string;
  tag: string;
  /** `bearer`: access JWT or API key (with `scope`); `public`: none; `inbound`: HMAC-signed by the tenant. */
  auth: 'bearer' | 'public' | 'inbound';
  scope?: Scope;
  /** Supports Idempotency-Key (creating POSTs). */
  idempotent?: boolean;
  /** Conditional request headers it honours. */
  conditional?: ('If-Match' | 'If-None-Match')[];
  /** `multipart`: the route also takes `multipart/form-data` (documented with this schema; the handler streams it). */
  request?: { params?: z.ZodObject; query?: z.ZodType; body?: z.ZodType; multipart?: z.ZodType };
  responses: Record<number, ResponseSpec>;
  handler: RequestHandler;
}

export interface RouteMiddleware {
  /** Identity, then the credential's rate limit. */
  authenticate: RequestHandler;
  requireScope: (scope: Scope) => RequestHandler;
  idempotency: RequestHandler;
}

/** `traced`: tracing is on: each route's work is a span of the request's trace (`routeSpan`). */
export function mountRoutes(app: Express, routes: RouteSpec[], mw: RouteMiddleware, { traced = false } = {}): void {
  for (const route of routes) {
    const chain: RequestHandler[] = traced ? [routeSpan(route.path)] : [];
    if (route.auth === 'bearer') {
      chain.push(mw.authenticate);
      if (route.scope) chain.push(mw.requireScope(route.scope));
    }
    // After the scope check: a replayed response is only ever given to a credential allowed to make the request.
    if (route.idempotent) chain.push(mw.idempotency);
    chain.push(route.handler);
    app[route.method](route.path, ...chain);
  }
}

const tracer = trace.getTracer('deskflow-express');

/**
 * The matched route as a span (named and attributed as `@opentelemetry/instrumentation-express` names its request
 * handlers), covering its authentication, scope check and handler, with the statements and commands they run as its
 * children. Only inside a sampled request: an unsampled one has no active span and passes straight on. The contrib
 * instrumentation wrapped every layer of every request, sampled or not, to the same effect (bench/RESULTS.md, #13).
 */
function routeSpan(path: string): RequestHandler {
  const attributes = { 'http.route': path, 'express.name': path, 'express.type': 'request_handler' };
  return (_req, res, next) => {
    const parent = context.active();
    if (!trace.getSpan(parent)?.isRecording()) return next();
    const span = tracer.startSpan(`request handler - ${path}`, { attributes }, parent);
    res.on('close', () => {
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    context.with(trace.setSpan(parent, span), next);
  };
}
