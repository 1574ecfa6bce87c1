import type { Client } from '@temporalio/client';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { LiveWindow } from '../platform/live-bus';
import { createProjectionActivities } from './projection';
import { createSlaActivities } from './sla';
import { createRolloutActivities } from './sla-rollout';

/** Every activity the worker registers, bound to its dependencies. */
export function createActivities(deps: { pool: pg.Pool; redis?: Redis; liveWindow?: LiveWindow; temporal: Client }) {
  return {
    ...createProjectionActivities(deps.pool, deps.redis, deps.liveWindow),
    ...createSlaActivities(deps.pool),
    ...createRolloutActivities(deps.temporal, deps.pool),
  };
}
