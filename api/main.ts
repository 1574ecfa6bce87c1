/** The API process: `npm run api`. Stateless; run as many as you like behind a load balancer. */
import type { Server } from 'node:http';
import { loadConfig } from '../platform/config';
import { createPool } from '../platform/db';
import { createLogger } from '../platform/logger';
import { createRedis } from '../platform/redis';
import { connectTemporal } from '../platform/temporal';
import { createApp } from './app';
import { attachLiveServer } from './live/server';

async function main() {
  const config = loadConfig();
  const log = createLogger(config, 'api');
  const pool = createPool(config);
  const redis = createRedis(config);
  const temporal = await connectTemporal(config);
  const app = createApp({ config, pool, redis, temporal, log });

  const server: Server = app.listen(config.PORT, config.HOST, () => {
    log.info({ url: `http://${config.HOST === '0.0.0.0' ? 'localhost' : config.HOST}:${config.PORT}` }, 'api listening');
  });
  server.keepAliveTimeout = 65_000;
  const live = attachLiveServer(server, { config, pool, redis, log });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'api stopping');
    // Live clients are told to reconnect elsewhere (and resume) first; then in-flight requests finish (bounded).
    await live.drain();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
    await Promise.allSettled([pool.end(), redis.quit(), temporal.connection.close()]);
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
