/**
 * The worker's warm-up: before a worker says it is ready, it runs one throwaway workflow the way the API runs a
 * create (update-with-start, the update handler running a local activity, the workflow completing), so the
 * first real creates do not pay for the first poll of the task queue, the first workflow task in the worker's
 * workflow threads, cold code paths and the first database connections (issue #12).
 */
import { defineUpdate } from '@temporalio/workflow';

export const WORKER_WARMUP_WORKFLOW_TYPE = 'workerWarmupWorkflow';

/** Answered once the local activity has run; the workflow then completes. */
export const warmUpUpdate = defineUpdate<'warm', []>('warmUp');

export interface WarmupActivities {
  /** Opens database connections and answers; no data is read or written. */
  warmUpConnections(): Promise<void>;
}

/** One warm-up per worker start: the id names the worker instance, and a repeat joins the run. */
export const warmupStartOptions = (taskQueue: string, instanceId: string) => ({
  workflowId: `deskflow-worker-warmup-${instanceId}`,
  taskQueue,
  workflowIdConflictPolicy: 'USE_EXISTING' as const,
  // Nothing to keep: the run has no history worth a look once it has answered.
  workflowExecutionTimeout: '5m',
});
