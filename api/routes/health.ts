import type { Client } from '@temporalio/client';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { z } from 'zod';
import { countWarmWorkers } from '../../platform/worker-readiness';
import type { RouteSpec } from '../http/route';
import type { WarmUp } from '../warm-up';

const withTimeout = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms).unref())]);

const Readiness = z.object({ status: z.enum(['ready', 'not_ready']), checks: z.record(z.string(), z.string()) });

/**
 * `/healthz`: the process is alive. `/readyz`: the node is not draining, PostgreSQL, Redis and Temporal all answer, this API has warmed up,
 * and a worker that has warmed up serves TEMPORAL_TASK_QUEUE (else the first writes wait seconds for one).
 * The worker check latches: once this API has seen a warm worker it stays ready without one (the check says so), so
 * losing every worker leaves reads served and writes waiting for a worker, instead of taking every API out of rotation.
 */
export function healthRoutes(deps: {
  pool: pg.Pool;
  redis: Redis;
  temporal: Client;
  taskQueue: string;
  warmUp: WarmUp;
  isDraining?: () => boolean;
}): RouteSpec[] {
  let workerSeen = false;
  const checks: Record<string, () => Promise<unknown>> = {
    // First: a node shutting down leaves the rotation while it finishes what it has.
    lifecycle: async () => {
      if (deps.isDraining?.()) throw new Error('draining: this node is shutting down');
    },
    postgres: () => deps.pool.query('SELECT 1'),
    redis: () => deps.redis.ping(),
    temporal: () => deps.temporal.workflowService.getSystemInfo({}),
    api: () => deps.warmUp.check(),
    worker: async () => {
      if ((await countWarmWorkers(deps.redis, deps.taskQueue)) > 0) {
        workerSeen = true;
        return 'ok';
      }
      if (!workerSeen) throw new Error(`no warm worker on task queue ${deps.taskQueue} yet`);
      return 'ok (no warm worker now: writes wait for one)';
    },
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
      summary: 'Readiness: PostgreSQL, Redis and Temporal reachable, the API and a worker warmed up',
      auth: 'public',
      responses: { 200: { description: 'Ready', body: Readiness }, 503: { description: 'A dependency is down, or still warming up', body: Readiness } },
      handler: async (_req, res) => {
        const results = await Promise.all(
          Object.entries(checks).map(async ([name, check]) => {
            try {
              const state = await withTimeout(check(), 2000);
              return [name, typeof state === 'string' && state.startsWith('ok') ? state : 'ok'] as const;
            } catch (err) {
              return [name, `unavailable: ${(err as Error).message}`] as const;
            }
          }),
        );
        const ready = results.every(([, state]) => state.startsWith('ok'));
        res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', checks: Object.fromEntries(results) });
      },
    },
  ];
}
