import { Redis } from 'ioredis';
import type { Config } from './config';

/** Every key Deskflow writes starts with REDIS_KEY_PREFIX, so deployments (and test runs) never collide. */
export function createRedis(config: Pick<Config, 'REDIS_URL' | 'REDIS_KEY_PREFIX'>): Redis {
  return new Redis(config.REDIS_URL, { keyPrefix: config.REDIS_KEY_PREFIX, maxRetriesPerRequest: 3, lazyConnect: false, enableAutoPipelining: true });
}
