/**
 * The API's own documentation: `GET /openapi.json` (the OpenAPI 3.1 document of every mounted route,
 * these two included) and Swagger UI at `/docs`, served from the swagger-ui-dist package (no CDN).
 * The document is built once, when the app is built.
 */
import type { Express, RequestHandler } from 'express';
import swaggerUi from 'swagger-ui-express';
import { z } from 'zod';
import type { RouteSpec } from '../http/route';
import { buildOpenApiDocument, type DocumentedResponseSpec } from '../openapi';

/** The files of swagger-ui-dist the page loads (swagger-ui-init.js is generated); the rest of the package stays unserved. */
const ASSETS = /^\/(swagger-ui\.css|swagger-ui-bundle\.js|swagger-ui-standalone-preset\.js|swagger-ui-init\.js|favicon-(16x16|32x32)\.png)(\.map)?$/;

/**
 * Helmet's default policy minus `upgrade-insecure-requests`, which would send the page's own scripts and
 * styles to https:// when the API is reached over plain http (development). Swagger UI needs no inline
 * script; its page has inline <style> blocks, as helmet's default already allows.
 */
const DOCS_CSP = [
  "default-src 'self'",
  "base-uri 'self'",
  "connect-src 'self'",
  "font-src 'self' data:",
  "form-action 'self'",
  "frame-ancestors 'self'",
  "img-src 'self' data:",
  "object-src 'none'",
  "script-src 'self'",
  "script-src-attr 'none'",
  "style-src 'self' 'unsafe-inline'",
].join('; ');

export function docsRoutes(documentJson: () => string): RouteSpec[] {
  const tag = 'Documentation';
  const page = swaggerUi.generateHTML(undefined, { customSiteTitle: 'Deskflow API' });
  const html: DocumentedResponseSpec = { description: 'Swagger UI (the page loads its assets from /docs/)', body: z.string(), mediaType: 'text/html' };
  return [
    {
      method: 'get',
      path: '/openapi.json',
      tag,
      summary: 'This OpenAPI 3.1 document',
      auth: 'public',
      responses: { 200: { description: 'The OpenAPI document of every route', body: z.record(z.string(), z.unknown()) } },
      handler: (_req, res) => {
        res.setHeader('Cache-Control', 'public, max-age=300');
        res.type('application/json').send(documentJson());
      },
    },
    {
      method: 'get',
      path: '/docs',
      tag,
      summary: 'Swagger UI',
      auth: 'public',
      responses: { 200: html, 301: { description: 'Redirect from `/docs` to `/docs/`, so the page finds its assets', headers: ['Location'] } },
      handler: (req, res) => {
        // Express matches /docs and /docs/ alike; the page's asset links are relative to /docs/.
        if (!req.path.endsWith('/')) return void res.redirect(301, `docs/${req.url.slice(req.path.length)}`);
        res.setHeader('Content-Security-Policy', DOCS_CSP);
        res.type('html').send(page);
      },
    },
  ];
}

/** Documents `routes` plus the documentation routes, and mounts those and Swagger UI's assets. Call after mountRoutes. */
export function mountDocs(app: Express, routes: RouteSpec[]): void {
  let json = '';
  const docs = docsRoutes(() => json);
  json = JSON.stringify(buildOpenApiDocument([...routes, ...docs]));
  for (const route of docs) app[route.method](route.path, route.handler);

  // The page reads the document from /openapi.json (relative, so a path prefix added by a proxy is kept).
  const [init, files] = swaggerUi.serveFiles(undefined, { swaggerUrl: '../openapi.json', swaggerOptions: { validatorUrl: null } }) as [
    RequestHandler,
    RequestHandler,
  ];
  app.use('/docs', (req, res, next) => {
    if (!ASSETS.test(req.path)) return next();
    void init(req, res, (err?: unknown) => (err ? next(err) : files(req, res, next)));
  });
}
