/** The API process: `npm run api`. Stateless; run as many as you like behind a load balancer. */
import { tracing } from './tracing'; // first: it instruments what the imports below load
import { createServer, type Server } from 'node:http';
import { loadConfig } from '../platform/config';
import { createPool } from '../platform/db';
import { firstFreeAddress } from '../platform/free-address';
import { createLogger } from '../platform/logger';
import { createRedis } from '../platform/redis';
import { connectTemporal } from '../platform/temporal';
import { createApp } from './app';
import { attachLiveServer } from './live/server';
import { createApiMetrics, metricsUrl, serveMetrics } from './metrics';

async function main() {
  const config = loadConfig();
  const log = createLogger(config, 'api');
  const pool = createPool(config, log);
  const redis = createRedis(config);
  // Metrics off (API_METRICS_ADDRESS empty): nothing measured at all, not merely not served.
  const metrics = config.API_METRICS_ADDRESS ? createApiMetrics({ pool, redis }) : undefined;
  const temporal = await connectTemporal(config, { grpc: metrics ? [metrics.temporalInterceptor] : [], traced: tracing.enabled });
  let draining = false;
  const app = createApp({ config, pool, redis, temporal, log, metrics, isDraining: () => draining });

  // Traced (on only), each sampled request runs in a server span of its own; unsampled ones meet no tracing code.
  const server: Server = createServer(tracing.serve ? tracing.serve(app) : app).listen(config.PORT, config.HOST, () => {
    log.info({ url: `http://${config.HOST === '0.0.0.0' ? 'localhost' : config.HOST}:${config.PORT}` }, 'api listening');
  });
  server.keepAliveTimeout = 65_000;
  const live = attachLiveServer(server, { config, pool, redis, log });
  metrics?.countLiveConnectionsWith(live.connections);

  // A second API on the same machine takes the next free port rather than failing to start.
  const metricsAddress = config.API_METRICS_ADDRESS ? await firstFreeAddress(config.API_METRICS_ADDRESS) : null;
  if (config.API_METRICS_ADDRESS && !metricsAddress)
    log.warn({ address: config.API_METRICS_ADDRESS }, 'no free metrics port near the configured one; metrics not served');
  const metricsServer = metrics && metricsAddress ? await serveMetrics(metrics.registry, metricsAddress, config.METRICS_TOKEN || undefined) : null;
  if (metricsServer) log.info({ metrics: metricsUrl(metricsServer), token: config.METRICS_TOKEN ? 'required' : 'none' }, 'api metrics');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    draining = true; // /readyz fails from now on
    log.info({ signal }, 'api stopping');
    // Live clients are told to reconnect elsewhere (and resume) first; then in-flight requests finish (bounded).
    await live.drain();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
    metrics?.stop();
    metricsServer?.close();
    await Promise.allSettled([pool.end(), redis.quit(), temporal.connection.close(), tracing.shutdown()]);
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
