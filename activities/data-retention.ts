/**
 * The data retention workflow's activities: a bounded step of the Redis sweep; a batch of uploads never linked; a batch
 * of objects left to delete; a batch of archived tickets past their tenant's deletion age (activities/archive-deletion.ts).
 */
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { Logger } from '../platform/logger';
import type { ObjectStorage } from '../platform/object-storage';
import { expireUnlinkedAttachments } from '../stores/attachments';
import { objectDeletionStore } from '../stores/object-deletions';
import { redisRetentionStore } from '../stores/redis-retention';
import type { DataRetentionActivities } from '../workflows/data-retention-contract';
import { createArchiveDeletionActivities } from './archive-deletion';

export function createDataRetentionActivities(deps: { redis: Redis; pool: pg.Pool; storage: ObjectStorage; log?: Logger }): DataRetentionActivities {
  const redis = redisRetentionStore(deps.redis);
  const objects = objectDeletionStore(deps.pool, deps.storage);
  return {
    sweepRedisRetention: ({ cursor, limits, batch }) => redis.sweep(cursor, limits, batch),
    purgeObjectDeletions: ({ grace_ms, limit }) => objects.sweep(new Date(Date.now() - grace_ms), limit),
    expireUnlinkedUploads: async ({ hold_ms, limit }) => ({ expired: await expireUnlinkedAttachments(deps.pool, new Date(Date.now() - hold_ms), limit) }),
    ...createArchiveDeletionActivities(deps),
  };
}
