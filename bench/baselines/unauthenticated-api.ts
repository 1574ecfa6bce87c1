/**
 * Baseline for issue #3: the real Deskflow API with authentication and rate limiting taken out, and
 * nothing else changed. Measured against the real API process (api/main.ts) in the same run, the
 * difference is the cost of the auth + limiter stack.
 *
 * It builds the app exactly as api/app.ts `createApp` does (request id, helmet, cors, the JSON parser,
 * every route from `buildRoutes` mounted by `mountRoutes`, the 404 and problem handlers) with two route
 * middlewares swapped:
 *  - `authenticate` → sets one fixed `req.identity`: the bench tenant, the bench agent as actor, the agent
 *    role's scopes, a `user` credential (the shape `authenticate` produces for an access JWT);
 *  - `rateLimit` → passes straight through.
 * `requireScope`, `idempotency`, the stores (row-level security set-up included), the workflows and the
 * handlers are the real ones, wired by `buildRoutes` from the same configuration.
 *
 * MUST TRACK api/app.ts `createApp` and api/main.ts: when either changes, mirror the change here, or the
 * authenticated / unauthenticated ratio measures something else than auth + rate limiting.
 *
 * Never an API to expose: it serves every request as the bench agent. It listens on 127.0.0.1 only,
 * whatever HOST says.
 *
 * Env: everything api/main.ts reads, plus BENCH_TENANT_ID and BENCH_AGENT_ID (uuids).
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import cors from 'cors';
import express, { type RequestHandler } from 'express';
import helmet from 'helmet';
import { buildRoutes } from '../../api/app';
import { mountRoutes } from '../../api/http/route';
import { notFoundHandler, problemHandler } from '../../api/problem';
import type { Identity } from '../../api/request';
import { ROLE_SCOPES } from '../../domain/auth';
import { loadConfig } from '../../platform/config';
import { createPool } from '../../platform/db';
import { createLogger } from '../../platform/logger';
import { createRedis } from '../../platform/redis';
import { connectTemporal } from '../../platform/temporal';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const REQUEST_ID = /^[\w.:-]{1,128}$/; // as api/app.ts

function requiredUuid(name: string): string {
  const value = process.env[name];
  if (!value || !UUID.test(value)) throw new Error(`${name} must be a uuid (got ${value ?? 'nothing'})`);
  return value;
}

async function main() {
  const tenantId = requiredUuid('BENCH_TENANT_ID');
  const agentId = requiredUuid('BENCH_AGENT_ID');
  const identity: Identity = {
    tenantId,
    actor: { type: 'agent', id: agentId },
    scopes: new Set(ROLE_SCOPES.agent),
    credential: {
      kind: 'user',
      userId: agentId,
      role: 'agent',
      sessionId: 'bench-unauthenticated',
      jti: 'bench-unauthenticated',
      exp: Math.floor(Date.now() / 1000) + 365 * 24 * 60 * 60,
    },
  };
  const fixedIdentity: RequestHandler = (req, _res, next) => {
    req.identity = identity;
    next();
  };
  const noRateLimit: RequestHandler = (_req, _res, next) => next();

  // ---- api/main.ts -------------------------------------------------------------------------------
  const config = loadConfig();
  const log = createLogger(config, 'api-unauthenticated');
  const pool = createPool(config);
  const redis = createRedis(config);
  const temporal = await connectTemporal(config);
  const deps = { config, pool, redis, temporal, log };

  // ---- api/app.ts createApp, middleware for middleware -----------------------------------------
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', config.TRUST_PROXY);

  app.use((req, res, next) => {
    const incoming = req.headers['x-request-id'];
    req.requestId = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader('X-Request-Id', req.requestId);
    if (log.isLevelEnabled('info')) {
      const started = process.hrtime.bigint();
      res.on('finish', () => {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        log.info({ requestId: req.requestId, method: req.method, path: req.path, status: res.statusCode, ms }, 'request');
      });
    }
    next();
  });
  app.use(helmet());
  const origins = config.CORS_ORIGINS.split(',').map((o) => o.trim()).filter(Boolean);
  app.use(cors({ origin: origins, credentials: false, exposedHeaders: ['ETag', 'Location', 'RateLimit', 'RateLimit-Policy', 'Retry-After', 'X-Request-Id'] }));
  app.use(
    express.json({
      limit: config.BODY_LIMIT,
      strict: true,
      type: ['application/json', 'application/*+json'],
      verify: (req, _res, buf) => {
        if ((req as express.Request).url.startsWith('/api/v1/inbound/')) (req as express.Request & { rawBody?: Buffer }).rawBody = buf;
      },
    }),
  );

  const { routes, middleware } = buildRoutes(deps);
  // The one difference from createApp:
  mountRoutes(app, routes, { ...middleware, authenticate: fixedIdentity, rateLimit: noRateLimit });

  app.use(notFoundHandler);
  app.use(problemHandler(log));

  // ---- api/main.ts, listening on loopback only ---------------------------------------------------
  const server: Server = app.listen(config.PORT, '127.0.0.1', () => {
    const address = server.address();
    console.log(`unauthenticated-api listening ${typeof address === 'object' && address ? address.port : config.PORT}`);
  });
  server.keepAliveTimeout = 65_000;

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
    await Promise.allSettled([pool.end(), redis.quit(), temporal.connection.close()]);
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
