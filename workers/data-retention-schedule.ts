/**
 * The Temporal schedule of data retention (workflows/data-retention-contract.ts): created when a worker starts, or
 * brought up to date with the worker's settings if it exists, exactly as the webhook retention schedule is.
 */
import type { Client, ScheduleOptionsStartWorkflowAction } from '@temporalio/client';
import { UNCONFIRMED_UPLOAD_HOLD_MS } from '../domain/attachment';
import { upsertSchedule } from './upsert-schedule';
import {
  DATA_RETENTION_WORKFLOW_TYPE,
  type DataRetentionInput,
  dataRetentionScheduleId,
  type RedisRetentionLimits,
} from '../workflows/data-retention-contract';
import type { dataRetentionWorkflow } from '../workflows/data-retention.workflow';

/** Keys looked at per activity call. */
export const DATA_RETENTION_SCAN_BATCH = 10_000;
/** Objects an erasure left are the sweep's after this long (the API deletes them itself right after its commit). */
export const OBJECT_DELETION_GRACE_MS = 5 * 60 * 1000;
export const OBJECT_DELETION_BATCH = 100;
/** Archived tickets past their tenant's deletion age looked at per activity call (each: a listing, a transaction, deletes). */
export const ARCHIVE_DELETION_BATCH = 100;
/** Upload rows never linked handed to the object deletions per activity call. */
export const UNLINKED_UPLOAD_BATCH = 500;

export async function ensureDataRetentionSchedule(
  temporal: Client,
  settings: { taskQueue: string; everyMs: number; redis: RedisRetentionLimits },
): Promise<string> {
  const scheduleId = dataRetentionScheduleId(settings.taskQueue);
  const input: DataRetentionInput = {
    redis: settings.redis,
    scan_batch: DATA_RETENTION_SCAN_BATCH,
    object_deletions: { grace_ms: OBJECT_DELETION_GRACE_MS, batch: OBJECT_DELETION_BATCH },
    archive_deletions: { batch: ARCHIVE_DELETION_BATCH },
    unlinked_uploads: { hold_ms: UNCONFIRMED_UPLOAD_HOLD_MS, batch: UNLINKED_UPLOAD_BATCH },
  };
  const action: ScheduleOptionsStartWorkflowAction<typeof dataRetentionWorkflow> = {
    type: 'startWorkflow',
    workflowType: DATA_RETENTION_WORKFLOW_TYPE,
    taskQueue: settings.taskQueue,
    workflowId: `${scheduleId}-run`,
    args: [input],
  };
  const spec = { intervals: [{ every: settings.everyMs }] };
  // A sweep still running when the next is due: skip that one. Runs missed while Temporal was down: one catch-up at most.
  const policies = { overlap: 'SKIP' as const, catchupWindow: settings.everyMs };
  return upsertSchedule(temporal, { scheduleId, spec, action, policies });
}
