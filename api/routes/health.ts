import type { Client } from '@temporalio/client';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { z } from 'zod';
import type { RouteSpec } from '../http/route';

const withTimeout = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms).unref())]);

const Readiness = z.object({ status: z.enum(['ready', 'not_ready']), checks: z.record(z.string(), z.string()) });

/** `/healthz`: the process is alive. `/readyz`: PostgreSQL, Redis and Temporal all answer. */
export function healthRoutes(deps: { pool: pg.Pool; redis: Redis; temporal: Client }): RouteSpec[] {
  const checks: Record<string, () => Promise<unknown>> = {
    postgres: () => deps.pool.query('SELECT 1'),
    redis: () => deps.redis.ping(),
    temporal: () => deps.temporal.workflowService.getSystemInfo({}),
  };
  return [
    {
      method: 'get',
      path: '/healthz',
      tag: 'Health',
      summary: 'Liveness',
      auth: 'public',
      responses: { 200: { description: 'Alive', body: z.object({ status: z.literal('ok') }) } },
      handler: (_req, res) => void res.json({ status: 'ok' }),
    },
    {
      method: 'get',
      path: '/readyz',
      tag: 'Health',
      summary: 'Readiness: PostgreSQL, Redis and Temporal reachable',
      auth: 'public',
      responses: { 200: { description: 'Ready', body: Readiness }, 503: { description: 'A dependency is down', body: Readiness } },
      handler: async (_req, res) => {
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
      },
    },
  ];
}
