/**
 * The webhook backoff workflow's contract: its name, input, how it is started and the activities it calls.
 * Imported by the workflow, its activities and its starter (the dispatcher), so none imports another's code.
 */
export const WEBHOOK_DELIVERY_WORKFLOW_TYPE = 'webhookDeliveryWorkflow';

export const webhookDeliveryWorkflowId = (deliveryId: string) => `webhook-delivery-${deliveryId}`;

export interface WebhookDeliveryInput {
  tenant_id: string;
  delivery_id: string;
  /** Attempts already made (the dispatcher's first one: 1). */
  attempts_made: number;
  /** What the last answer's `Retry-After` asked for, in ms. */
  retry_after_ms: number | null;
  /** Fixed at start, so a configuration change never alters a running schedule. */
  max_retries: number;
  base_delay_ms: number;
  max_delay_ms: number;
}

export type WebhookDeliveryResult = 'delivered' | 'dead' | 'gone' | 'parked' | 'done';

/**
 * One backoff run per delivery: a start while one runs joins it (the dispatcher retrying its hand-over);
 * a start after it finished (a redriven delivery failing again) begins a new round.
 */
export const webhookDeliveryStartOptions = (taskQueue: string, input: WebhookDeliveryInput) => ({
  taskQueue,
  workflowId: webhookDeliveryWorkflowId(input.delivery_id),
  args: [input] as [WebhookDeliveryInput],
  workflowIdConflictPolicy: 'USE_EXISTING' as const,
  workflowIdReusePolicy: 'ALLOW_DUPLICATE' as const,
});

export interface AttemptResult {
  /** `done`: delivered or dead already (a repeated activity); `parked`: the endpoint is disabled. */
  outcome: 'delivered' | 'gone' | 'failed' | 'done' | 'parked';
  attempts: number;
  retry_after_ms: number | null;
}

/** What the workflow asks of its activities (implemented in activities/webhook-delivery.ts). */
export interface WebhookDeliveryActivities {
  /** Exactly one HTTP attempt, logged; the activity retries only its own infrastructure failures. */
  attemptWebhookDelivery(input: { tenant_id: string; delivery_id: string }): Promise<AttemptResult>;
  /** Dead-letters the delivery: audited, and a live notification for the tenant's admins. */
  deadLetterWebhookDelivery(input: { tenant_id: string; delivery_id: string }): Promise<void>;
}
