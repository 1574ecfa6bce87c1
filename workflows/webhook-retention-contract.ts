/**
 * The webhook retention workflow's contract: run by a Temporal schedule (created by the worker at start), it
 * purges the delivery log's attempts older than the retention.
 */
export const WEBHOOK_RETENTION_WORKFLOW_TYPE = 'webhookRetentionWorkflow';

/**
 * One schedule per webhook task queue: the deployment that owns the queue owns its schedule (a namespace may
 * hold several, e.g. the test suites' own queues), so no worker re-points another deployment's schedule.
 */
export const webhookRetentionScheduleId = (taskQueue: string) => `deskflow-webhook-retention-${taskQueue}`;

export interface WebhookRetentionInput {
  /** Attempts older than this are purged. */
  retention_ms: number;
  /** Attempts deleted per activity call (one short statement each). */
  batch_size: number;
}

export interface WebhookRetentionActivities {
  /** Deletes up to `limit` attempts made before `before` (ISO time); returns how many went. */
  purgeWebhookAttempts(input: { before: string; limit: number }): Promise<number>;
}
