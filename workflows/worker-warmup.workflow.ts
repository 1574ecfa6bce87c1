/** See worker-warmup-contract.ts: a throwaway workflow that takes the same path as a ticket create. */
import { condition, proxyLocalActivities, setHandler } from '@temporalio/workflow';
import { type WarmupActivities, warmUpUpdate } from './worker-warmup-contract';

const { warmUpConnections } = proxyLocalActivities<WarmupActivities>({ startToCloseTimeout: '15s' });

export async function workerWarmupWorkflow(): Promise<void> {
  let warm = false;
  setHandler(warmUpUpdate, async () => {
    await warmUpConnections();
    warm = true;
    return 'warm' as const;
  });
  await condition(() => warm);
}
