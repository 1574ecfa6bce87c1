/**
 * `/console`: the admin web page (console/: HTML, CSS and ES modules, no build step), served by the API itself
 * with nothing loaded from elsewhere. Static files, so not in the OpenAPI document (like Swagger UI's assets).
 */
import path from 'node:path';
import express, { type Express } from 'express';
import { ROOT } from '../platform/paths';

export const CONSOLE_DIR = path.join(ROOT, 'console');

/**
 * Only this origin's files, no inline script or style, no plugins, no framing, no base or form targets; Trusted
 * Types with no policy, so a string can never reach an HTML sink (the page builds nodes and sets textContent).
 * Unlike helmet's default, no `upgrade-insecure-requests`, which would break the page over plain http (development).
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "object-src 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join('; ');

export function mountConsole(app: Express): void {
  app.use(
    '/console',
    (_req, res, next) => {
      res.setHeader('Content-Security-Policy', CONSOLE_CSP);
      next();
    },
    express.static(CONSOLE_DIR, {
      index: 'index.html',
      dotfiles: 'ignore',
      fallthrough: true,
      // Files are not fingerprinted: revalidate every time (a 304 when unchanged), so a deploy is never half-seen.
      setHeaders: (res) => res.setHeader('Cache-Control', 'no-cache'),
    }),
  );
}
