/**
 * Every HTTP route is declared once, as data: method, path, auth, scope and the zod schemas of its
 * request and responses. `mountRoutes` wires Express from it and api/openapi.ts documents it from it,
 * so the OpenAPI document cannot drift from what is mounted.
 */
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

export function mountRoutes(app: Express, routes: RouteSpec[], mw: RouteMiddleware): void {
  for (const route of routes) {
    const chain: RequestHandler[] = [];
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
