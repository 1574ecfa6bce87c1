/**
 * The API sets helmet's headers, and cors's for a request without Origin, from a recording made at start-up
 * (api/http/fixed-headers.ts). Over real HTTP: a plain Express app running helmet and cors themselves answers with
 * exactly the same headers, and the recorder refuses a middleware whose headers are not fixed.
 */
import type { AddressInfo } from 'node:net';
import cors from 'cors';
import express, { type RequestHandler } from 'express';
import helmet from 'helmet';
import { headersSetBy, setFixedHeaders } from '../../api/http/fixed-headers';

const corsOptions = { origin: ['https://agents.example'], credentials: false, exposedHeaders: ['ETag', 'RateLimit', 'X-Request-Id'] };

async function headersOf(app: express.Express, init: RequestInit = {}): Promise<Record<string, string>> {
  app.get('/x', (_req, res) => void res.json({ ok: true }));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/x`, init);
    await res.arrayBuffer();
    const headers = Object.fromEntries(res.headers);
    delete headers.date; // the only value that differs between two answers
    return headers;
  } finally {
    server.close();
  }
}

function plainApp(...middleware: RequestHandler[]): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(...middleware);
  return app;
}

test('recorded helmet and cors headers are what helmet and cors set themselves', async () => {
  const security = headersSetBy(helmet(), { method: 'GET', headers: {} });
  const sameOrigin = headersSetBy(cors(corsOptions), { method: 'GET', headers: {} });
  expect(security.map(([name]) => name)).toEqual(expect.arrayContaining(['Content-Security-Policy', 'Strict-Transport-Security', 'X-Frame-Options']));
  expect(sameOrigin).toEqual([
    ['Vary', 'Origin'],
    ['Access-Control-Expose-Headers', 'ETag,RateLimit,X-Request-Id'],
  ]);

  const real = await headersOf(plainApp(helmet(), cors(corsOptions)));
  const recorded = await headersOf(
    plainApp((_req, res, next) => {
      setFixedHeaders(res, security);
      setFixedHeaders(res, sameOrigin);
      next();
    }),
  );
  expect(recorded).toEqual(real);
  expect(recorded['x-content-type-options']).toBe('nosniff');
});

test('middleware whose headers depend on the request, or that answers, is refused', () => {
  const byOrigin: RequestHandler = (req, res, next) => {
    res.setHeader('Access-Control-Allow-Origin', String(req.headers.origin));
    if (req.ip) res.setHeader('X-Seen', req.ip);
    next();
  };
  expect(() => headersSetBy(byOrigin, { method: 'GET', headers: {} })).toThrow('read req.ip');
  expect(() => headersSetBy((_req, res) => void res.status(204).end(), { method: 'GET', headers: {} })).toThrow('read res.status');
  expect(() => headersSetBy((_req, _res, next) => void setTimeout(next, 1), { method: 'GET', headers: {} })).toThrow('did not call next() at once');
  expect(() => headersSetBy((_req, _res, next) => next(new Error('no')), { method: 'GET', headers: {} })).toThrow('with an error');
  // A cross-origin request is not a fixed case for cors: it reads the request's Origin (and answers it).
  const crossOrigin = headersSetBy(cors(corsOptions), { method: 'GET', headers: { origin: 'https://agents.example' } });
  expect(crossOrigin).toContainEqual(['Access-Control-Allow-Origin', 'https://agents.example']);
});
