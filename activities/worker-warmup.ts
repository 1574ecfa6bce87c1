/** The warm-up workflow's activity: opens connections of the worker's pool before the first ticket needs them. */
import type pg from 'pg';
import { warmPool } from '../platform/db';
import type { WarmupActivities } from '../workflows/worker-warmup-contract';

export function createWarmupActivities(pool: pg.Pool): WarmupActivities {
  return { warmUpConnections: () => warmPool(pool) };
}
