/**
 * The Temporal schedule that keeps the webhook delivery log to its retention: created when a worker starts, or
 * brought up to date with the worker's settings if it exists (every worker does this; the result is the same).
 */
import type { Client, ScheduleOptionsStartWorkflowAction } from '@temporalio/client';
import { upsertSchedule } from './upsert-schedule';
import { WEBHOOK_RETENTION_WORKFLOW_TYPE, type WebhookRetentionInput, webhookRetentionScheduleId } from '../workflows/webhook-retention-contract';
import type { webhookRetentionWorkflow } from '../workflows/webhook-retention.workflow';

export const RETENTION_BATCH = 1000;

export async function ensureWebhookRetentionSchedule(temporal: Client, settings: { taskQueue: string; retentionMs: number; everyMs: number }): Promise<string> {
  const scheduleId = webhookRetentionScheduleId(settings.taskQueue);
  const input: WebhookRetentionInput = { retention_ms: settings.retentionMs, batch_size: RETENTION_BATCH };
  const action: ScheduleOptionsStartWorkflowAction<typeof webhookRetentionWorkflow> = {
    type: 'startWorkflow',
    workflowType: WEBHOOK_RETENTION_WORKFLOW_TYPE,
    taskQueue: settings.taskQueue,
    workflowId: `${scheduleId}-run`,
    args: [input],
  };
  const spec = { intervals: [{ every: settings.everyMs }] };
  // A purge still running when the next is due: skip that one (the running one gets there).
  const policies = { overlap: 'SKIP' as const, catchupWindow: settings.everyMs };
  return upsertSchedule(temporal, { scheduleId, spec, action, policies });
}
