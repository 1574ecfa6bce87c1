/** The warm-up workflow's activity: opens connections of the worker's pool before the first ticket needs them. */
import type pg from 'pg';
import type { WarmupActivities } from '../workflows/worker-warmup-contract';

/** Connections opened at once: the pool keeps them while load follows (pg closes idle ones after 10 s). */
const WARM_CONNECTIONS = 4;

export function createWarmupActivities(pool: pg.Pool): WarmupActivities {
  return {
    async warmUpConnections() {
      const clients = await Promise.all(Array.from({ length: Math.min(WARM_CONNECTIONS, pool.options.max ?? 10) }, () => pool.connect()));
      try {
        await Promise.all(clients.map((c) => c.query('SELECT 1')));
      } finally {
        for (const c of clients) c.release();
      }
    },
  };
}
