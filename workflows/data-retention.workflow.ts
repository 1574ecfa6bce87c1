/**
 * Retention of short-lived records: one walk of the Redis keyspace in bounded steps (an activity per step, so a
 * worker crash resumes from the last step's cursor), then archived tickets past their tenant's deletion age (batches,
 * oldest closed first), then uploads never linked to a message (their objects listed for deletion), then the objects
 * erasures, deletions and those uploads left to delete. A run that grows long hands the rest
 * to the next scheduled run.
 */
import { patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { ArchiveDeletionCursor, ArchiveDeletionStep, DataRetentionActivities, DataRetentionInput, DataRetentionResult } from './data-retention-contract';

const { sweepRedisRetention, purgeObjectDeletions, expireUnlinkedUploads } = proxyActivities<DataRetentionActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1s', maximumInterval: '1 minute', maximumAttempts: 10 },
});

const { deleteExpiredArchives } = proxyActivities<DataRetentionActivities>({
  // A batch lists and deletes each archive's objects: allow it time, but notice a dead worker within the heartbeat timeout.
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '30s',
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
  // Runs started before this step existed replay without it.
  if (input.archive_deletions && patched('archive-deletion')) {
    const batch = input.archive_deletions.batch;
    const archives = { archives_deleted: 0, archives_skipped: 0, archives_failed: 0 };
    let after: ArchiveDeletionCursor | null = null;
    for (;;) {
      const step: ArchiveDeletionStep = await deleteExpiredArchives({ after, limit: batch });
      archives.archives_deleted += step.deleted;
      archives.archives_skipped += step.skipped;
      archives.archives_failed += step.failed;
      after = step.after;
      if (step.examined < batch || long()) break;
    }
    Object.assign(total, archives);
  }
  if (input.unlinked_uploads && patched('unlinked-uploads')) {
    const { hold_ms, batch } = input.unlinked_uploads;
    total.uploads_expired = 0;
    for (;;) {
      const { expired } = await expireUnlinkedUploads({ hold_ms, limit: batch });
      total.uploads_expired += expired;
      if (expired < batch || long()) break;
    }
  }
  for (;;) {
    const { due, deleted } = await purgeObjectDeletions({ grace_ms: input.object_deletions.grace_ms, limit: input.object_deletions.batch });
    total.objects_deleted += deleted;
    // Fewer than a batch: none left. None deleted of a full batch: the store refuses; the next run tries again.
    if (due < input.object_deletions.batch || deleted === 0 || long()) return total;
  }
}
