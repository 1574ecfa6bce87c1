/**
 * Retention of short-lived records: one walk of the Redis keyspace in bounded steps (an activity per step, so a
 * worker crash resumes from the last step's cursor), then the objects erasures left to delete. A run that grows long
 * hands the rest to the next scheduled run.
 */
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { DataRetentionActivities, DataRetentionInput, DataRetentionResult } from './data-retention-contract';

const { sweepRedisRetention, purgeObjectDeletions } = proxyActivities<DataRetentionActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1s', maximumInterval: '1 minute', maximumAttempts: 10 },
});

export async function dataRetentionWorkflow(input: DataRetentionInput): Promise<DataRetentionResult> {
  const total: DataRetentionResult = { examined: 0, deleted: 0, capped: 0, objects_deleted: 0 };
  const long = () => workflowInfo().continueAsNewSuggested;
  let cursor = '0';
  do {
    const step = await sweepRedisRetention({ cursor, limits: input.redis, batch: input.scan_batch });
    total.examined += step.examined;
    total.deleted += step.deleted;
    total.capped += step.capped;
    cursor = step.cursor;
  } while (cursor !== '0' && !long());
  for (;;) {
    const { due, deleted } = await purgeObjectDeletions({ grace_ms: input.object_deletions.grace_ms, limit: input.object_deletions.batch });
    total.objects_deleted += deleted;
    // Fewer than a batch: none left. None deleted of a full batch: the store refuses; the next run tries again.
    if (due < input.object_deletions.batch || deleted === 0 || long()) return total;
  }
}
