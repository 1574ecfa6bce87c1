/**
 * The API's warm-up before /readyz says ready (issue #12): the first creates after a start paid for opening
 * database connections and for the first calls on the Temporal connection. Started with the app; a failed
 * attempt (a dependency still starting) is tried again by the next readiness check.
 */
import type { Client } from '@temporalio/client';
import type pg from 'pg';

/** Connections opened at once: what a burst of first requests needs (pg closes idle ones after 10 s). */
const WARM_CONNECTIONS = 4;

export interface WarmUp {
  /** Resolves once warm (waiting for the attempt in flight, or starting a new one); rejects with its failure. */
  check(): Promise<void>;
}

export function warmUpApi(deps: { pool: pg.Pool; temporal: Client }): WarmUp {
  const steps = async () => {
    const n = Math.min(WARM_CONNECTIONS, deps.pool.options.max ?? 10);
    const clients = await Promise.all(Array.from({ length: n }, () => deps.pool.connect()));
    try {
      await Promise.all(clients.map((c) => c.query('SELECT 1')));
    } finally {
      for (const c of clients) c.release();
    }
    await deps.temporal.workflowService.describeNamespace({ namespace: deps.temporal.options.namespace });
  };
  let warm = false;
  let attempt: Promise<void> | undefined;
  const run = () =>
    (attempt ??= steps().then(
      () => {
        warm = true;
      },
      (err: unknown) => {
        attempt = undefined;
        throw err;
      },
    ));
  run().catch(() => undefined); // at once; readiness reports a failure
  return { check: () => (warm ? Promise.resolve() : run()) };
}
