/**
 * The API's Prometheus metrics (prom-client), served on their own listener (API_METRICS_ADDRESS, loopback by
 * default), never on the public port; with METRICS_TOKEN set, a scrape must also send it as a bearer token.
 * One registry per process (not prom-client's global one), so several apps in one process (tests) never collide.
 */
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Interceptor, InterceptingCall } from '@grpc/grpc-js';
import type { RequestHandler } from 'express';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { splitAddress } from '../platform/free-address';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Seconds; dense around the API's 200 ms objective so the alert on p95 can be computed from the buckets. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2.5, 5, 10, 30];
const REDIS_SAMPLE_EVERY_MS = 5000;

export function createApiMetrics(deps: { pool: pg.Pool; redis: Redis }) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const httpDuration = new Histogram({
    name: 'deskflow_http_request_duration_seconds',
    help: 'HTTP requests by route template, method and status, from arrival to the last byte written',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  // A plain count read at scrape time: a gauge's inc/dec per request would hash its (empty) labels twice.
  let inFlight = 0;
  new Gauge({
    name: 'deskflow_http_requests_in_flight',
    help: 'HTTP requests being served',
    registers: [registry],
    collect() {
      this.set(inFlight);
    },
  });
  let countLive: () => number = () => 0;
  new Gauge({
    name: 'deskflow_live_connections',
    help: 'Open live-update WebSocket connections',
    registers: [registry],
    collect() {
      this.set(countLive());
    },
  });
  new Gauge({
    name: 'deskflow_db_pool_connections',
    help: 'PostgreSQL pool connections by state (in_use, idle) and requests waiting for one (waiting)',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const { totalCount, idleCount, waitingCount } = deps.pool;
      this.set({ state: 'in_use' }, totalCount - idleCount);
      this.set({ state: 'idle' }, idleCount);
      this.set({ state: 'waiting' }, waitingCount);
    },
  });
  new Gauge({
    name: 'deskflow_db_pool_max',
    help: 'The pool size limit (DATABASE_POOL_MAX)',
    registers: [registry],
    collect() {
      this.set(deps.pool.options.max ?? 10);
    },
  });
  const redisRoundTrip = new Histogram({
    name: 'deskflow_redis_roundtrip_seconds',
    help: `Redis PING round trip, sampled every ${REDIS_SAMPLE_EVERY_MS / 1000} s`,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  const redisErrors = new Counter({ name: 'deskflow_redis_ping_failures_total', help: 'Sampled Redis PINGs that failed', registers: [registry] });
  const temporalRpc = new Histogram({
    name: 'deskflow_temporal_client_rpc_duration_seconds',
    help: 'Temporal client RPCs by method and gRPC status code (Workflow Updates include the wait for the workflow)',
    labelNames: ['rpc', 'code'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });

  // A sampled PING measures what every Redis call pays at least, without wrapping the client.
  const sampler = setInterval(() => {
    const end = redisRoundTrip.startTimer();
    deps.redis.ping().then(
      () => end(),
      () => redisErrors.inc(),
    );
  }, REDIS_SAMPLE_EVERY_MS);
  sampler.unref();

  /** Express middleware: first in the chain; the route template is known only once the request finished. */
  const http_: RequestHandler = (req, res, next) => {
    const started = process.hrtime.bigint();
    inFlight++;
    // One listener: a response emits 'close' once, after 'finish' or when the client went away first.
    res.on('close', () => {
      inFlight--;
      const route = req.route?.path ? `${req.baseUrl}${String(req.route.path)}` : 'unmatched';
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      httpDuration.observe({ method: req.method, route, status: String(res.statusCode) }, seconds);
    });
    next();
  };

  /** A gRPC interceptor for the Temporal client's connection: every RPC timed, by method and status. */
  const temporalInterceptor: Interceptor = (options, nextCall) => {
    const path = options.method_definition.path;
    const rpc = path.slice(path.lastIndexOf('/') + 1);
    const end = temporalRpc.startTimer({ rpc });
    return new InterceptingCall(nextCall(options), {
      start(metadata, _listener, next) {
        next(metadata, {
          onReceiveStatus(status, nextStatus) {
            end({ code: String(status.code) });
            nextStatus(status);
          },
        });
      },
    });
  };

  return {
    registry,
    http: http_,
    temporalInterceptor,
    /** Where the live server's connection count comes from (it is created after the app). */
    countLiveConnectionsWith(count: () => number) {
      countLive = count;
    },
    stop() {
      clearInterval(sampler);
    },
  };
}
export type ApiMetrics = ReturnType<typeof createApiMetrics>;

/**
 * The metrics listener: GET /metrics only. `address` is host:port (port 0 picks one). With `token`, a scrape
 * without `Authorization: Bearer <token>` is a 401.
 */
export async function serveMetrics(registry: Registry, address: string, token?: string): Promise<http.Server> {
  const { host, port } = splitAddress(address);
  const expected = token ? Buffer.from(`Bearer ${token}`) : null;
  const server = http.createServer((req, res) => {
    void (async () => {
      if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      if (expected) {
        const given = Buffer.from(req.headers.authorization ?? '');
        if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
          res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer realm="deskflow-metrics"' }).end('unauthorized\n');
          return;
        }
      }
      try {
        const body = await registry.metrics();
        res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' }).end(body);
      } catch (err) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(err as Error).message}\n`);
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}

export function metricsUrl(server: http.Server): string {
  const a = server.address() as AddressInfo;
  return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}/metrics`;
}
