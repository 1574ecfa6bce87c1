/**
 * The API's warm-up before /readyz says ready (issue #12): the first creates after a start paid for opening
 * database connections and for the first calls on the Temporal connection. Started with the app; a failed
 * attempt (a dependency still starting) is tried again by the next readiness check.
 */
import type { Client } from '@temporalio/client';
import type pg from 'pg';
import { warmPool } from '../platform/db';

export interface WarmUp {
  /** Resolves once warm (waiting for the attempt in flight, or starting a new one); rejects with its failure. */
  check(): Promise<void>;
}

export function warmUpApi(deps: { pool: pg.Pool; temporal: Client }): WarmUp {
  const steps = async () => {
    await warmPool(deps.pool);
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
