/**
 * How the API knows a warm worker serves its task queue (issue #12: /readyz said ready seconds before the
 * worker polled, and the first creates waited for it). A worker that has run its warm-up adds itself to the
 * sorted set `workers:warm:<task queue>` (score: when its entry lapses) and renews that entry while it runs;
 * it removes itself on shutdown, and a killed worker's entry lapses after WARM_ENTRY_MS.
 */
import type { Redis } from 'ioredis';

const WARM_ENTRY_MS = 30_000;
const RENEW_EVERY_MS = 10_000;

const keyOf = (taskQueue: string) => `workers:warm:${taskQueue}`;

export interface WarmAnnouncement {
  /** Removes this worker's entry (the API then counts the other warm workers only). */
  withdraw(): Promise<void>;
}

/** Announces `instanceId` as a warm worker of `taskQueue` until `withdraw` (renewing its entry meanwhile). */
export async function announceWarmWorker(redis: Redis, taskQueue: string, instanceId: string, onError: (err: unknown) => void): Promise<WarmAnnouncement> {
  const renew = () => redis.zadd(keyOf(taskQueue), Date.now() + WARM_ENTRY_MS, instanceId);
  await renew();
  const timer = setInterval(() => void renew().catch(onError), RENEW_EVERY_MS);
  timer.unref();
  return {
    async withdraw() {
      clearInterval(timer);
      await redis.zrem(keyOf(taskQueue), instanceId);
    },
  };
}

/** Warm workers of `taskQueue` whose entry has not lapsed (lapsed ones are removed on the way). */
export async function countWarmWorkers(redis: Redis, taskQueue: string): Promise<number> {
  const now = Date.now();
  const [, count] = await Promise.all([redis.zremrangebyscore(keyOf(taskQueue), '-inf', now), redis.zcount(keyOf(taskQueue), now, '+inf')]);
  return count;
}
