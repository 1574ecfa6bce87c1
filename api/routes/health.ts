import type { Client } from '@temporalio/client';
import { Router } from 'express';
import type { Redis } from 'ioredis';
import type pg from 'pg';

const withTimeout = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms).unref())]);

/** `/healthz`: the process is alive. `/readyz`: PostgreSQL, Redis and Temporal all answer. */
export function healthRoutes(deps: { pool: pg.Pool; redis: Redis; temporal: Client }): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
  router.get('/readyz', async (_req, res) => {
    const checks: Record<string, () => Promise<unknown>> = {
      postgres: () => deps.pool.query('SELECT 1'),
      redis: () => deps.redis.ping(),
      temporal: () => deps.temporal.workflowService.getSystemInfo({}),
    };
    const results = await Promise.all(
      Object.entries(checks).map(async ([name, check]) => {
        try {
          await withTimeout(check(), 2000);
          return [name, 'ok'] as const;
        } catch (err) {
          return [name, `unavailable: ${(err as Error).message}`] as const;
        }
      }),
    );
    const ready = results.every(([, state]) => state === 'ok');
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', checks: Object.fromEntries(results) });
  });
  return router;
}
