/**
 * The bulk redrive workflow's contract: its name, input, how it is started and the activity it calls.
 * Imported by the workflow, its activity and its starter (the API), so none imports another's code.
 */
export const WEBHOOK_REDRIVE_WORKFLOW_TYPE = 'webhookRedriveWorkflow';

/** One run per redrive (the one-per-endpoint rule is the database's: see stores/webhook-redrives.ts). */
export const webhookRedriveWorkflowId = (redriveId: string) => `webhook-redrive-${redriveId}`;

export interface WebhookRedriveInput {
  tenant_id: string;
  redrive_id: string;
  /** Deliveries requeued per second, on average (durable timers between batches). */
  per_second: number;
  /** Dead letters requeued per activity call. */
  batch_size: number;
  /** Batches per run before it continues as new (bounded history). */
  batches_per_run: number;
}

/** Started once by the API; a repeated start (a retried call) joins the run. */
export const webhookRedriveStartOptions = (taskQueue: string, input: WebhookRedriveInput) => ({
  taskQueue,
  workflowId: webhookRedriveWorkflowId(input.redrive_id),
  args: [input] as [WebhookRedriveInput],
  workflowIdConflictPolicy: 'USE_EXISTING' as const,
  workflowIdReusePolicy: 'REJECT_DUPLICATE' as const,
});

export interface RedriveBatch {
  /** Dead letters put back to pending by this call. */
  requeued: number;
  /** Nothing left after the cursor, or the redrive was cancelled or its endpoint deleted. */
  done: boolean;
}

/** What the workflow asks of its activities (implemented in activities/webhook-redrive.ts). */
export interface WebhookRedriveActivities {
  /**
   * The next batch after the redrive's cursor (kept in its row, so a repeated call resumes where the last commit
   * left off), requeued like a single retry; the cursor and count move in the same transaction.
   */
  requeueRedriveBatch(input: { tenant_id: string; redrive_id: string; limit: number }): Promise<RedriveBatch>;
}
