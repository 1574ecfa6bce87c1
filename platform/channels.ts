/**
 * Redis pub/sub channel names. ioredis's `keyPrefix` prefixes keys but not pub/sub channels, so each name
 * carries REDIS_KEY_PREFIX itself: deployments (and test runs) sharing a Redis never hear each other.
 */
import type { Redis } from 'ioredis';

/** A tenant's live events (the WebSocket fan-out on every API node subscribes to it). */
export const liveChannel = (keyPrefix: string, tenantId: string) => `${keyPrefix}live:${tenantId}`;

/** The live channel of `tenantId` under the key prefix `redis` was created with (platform/redis.ts). */
export const liveChannelOf = (redis: Redis, tenantId: string) => liveChannel(redis.options.keyPrefix ?? '', tenantId);
