/**
 * The worker's warm-up before it reports ready (see workflows/worker-warmup-contract.ts): warm-up workflows run
 * through the same client call as a ticket create, on the worker's own task queue, until one answers.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type Client, WithStartWorkflowOperation } from '@temporalio/client';
import type { Logger } from '../platform/logger';
import { WORKER_WARMUP_WORKFLOW_TYPE, warmUpUpdate, warmupStartOptions } from '../workflows/worker-warmup-contract';
import type { workerWarmupWorkflow } from '../workflows/worker-warmup.workflow';

/** Run side by side, so more than one workflow-task slot and database connection are exercised. */
const WARMUP_RUNS = 3;

/** Resolves once the warm-up workflows have answered; retries while `running()` (Temporal may still be starting). */
export async function warmUpWorker(temporal: Client, taskQueue: string, instanceId: string, log: Logger, running: () => boolean): Promise<boolean> {
  for (let attempt = 1; running(); attempt++) {
    try {
      await Promise.all(
        Array.from({ length: WARMUP_RUNS }, (_, i) =>
          temporal.workflow.executeUpdateWithStart(warmUpUpdate, {
            startWorkflowOperation: new WithStartWorkflowOperation<typeof workerWarmupWorkflow>(
              WORKER_WARMUP_WORKFLOW_TYPE,
              warmupStartOptions(taskQueue, `${instanceId}-${attempt}-${i}`),
            ),
          }),
        ),
      );
      return true;
    } catch (err) {
      log.warn({ err, attempt }, 'worker warm-up failed; retrying');
      await sleep(1000);
    }
  }
  return false;
}
