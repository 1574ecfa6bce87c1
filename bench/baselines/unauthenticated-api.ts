/**
 * Baseline for the cost of authentication: the real Deskflow API with authentication and rate limiting taken out, and
 * nothing else changed. Measured against the real API process (api/main.ts) in the same run, the
 * difference is the cost of the auth + limiter stack.
 *
 * It is api/app.ts `createApp` itself, with one route middleware swapped through its `overrides`:
 *  - `authenticate` → sets one fixed `req.identity`: the bench tenant, the bench agent as actor, the agent
 *    role's scopes, a `user` credential (the shape `authenticate` produces for an access JWT)
 *    (the route middleware `authenticate` also spends the rate limit, so that goes too).
 * `requireScope`, `idempotency`, the stores (row-level security set-up included), the workflows and the
 * handlers are the real ones, wired by `buildRoutes` from the same configuration.
 *
 * The process wiring mirrors api/main.ts (connections, loopback listen, graceful stop).
 *
 * Never an API to expose: it serves every request as the bench agent. It listens on 127.0.0.1 only,
 * whatever HOST says.
 *
 * Env: everything api/main.ts reads, plus BENCH_TENANT_ID and BENCH_AGENT_ID (uuids).
 */
import type { Server } from 'node:http';
import type { RequestHandler } from 'express';
import { createApp } from '../../api/app';
import type { Identity } from '../../domain/identity';
import { ROLE_SCOPES } from '../../domain/auth';
import { loadConfig } from '../../platform/config';
import { createPool } from '../../platform/db';
import { createLogger } from '../../platform/logger';
import { createRedis } from '../../platform/redis';
import { connectTemporal } from '../../platform/temporal';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

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

  // ---- api/main.ts -------------------------------------------------------------------------------
  const config = loadConfig();
  const log = createLogger(config, 'api-unauthenticated');
  const pool = createPool(config);
  const redis = createRedis(config);
  const temporal = await connectTemporal(config);
  const deps = { config, pool, redis, temporal, log };

  // ---- api/app.ts createApp, with the two route middlewares swapped ----------------------------
  const app = createApp(deps, { authenticate: fixedIdentity });

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
