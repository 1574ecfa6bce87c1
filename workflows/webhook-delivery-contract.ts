/**
 * The webhook backoff workflow's contract: its name, input, how it is started and the activities it calls.
 * Imported by the workflow, its activities and its starter (the dispatcher), so none imports another's code.
 */
import type { RetryPolicy } from '../domain/webhook-retry';

export type { RetryPolicy };

export const WEBHOOK_DELIVERY_WORKFLOW_TYPE = 'webhookDeliveryWorkflow';

/**
 * A workflow per backoff round: a redriven (or parked and resumed) delivery starts a round of its own, so its
 * hand-over can never join the previous round's run while that one is finishing (and leave the delivery
 * `retrying` with no workflow). Round 0 keeps the plain name.
 */
export const webhookDeliveryWorkflowId = (deliveryId: string, round = 0) =>
  round === 0 ? `webhook-delivery-${deliveryId}` : `webhook-delivery-${deliveryId}-r${round}`;

export interface WebhookDeliveryInput {
  tenant_id: string;
  delivery_id: string;
  /** The wait before the first retry (already written to the delivery's next_attempt_at); null: no retries. */
  first_delay_ms: number | null;
  policy: RetryPolicy;
  /** The delivery's round this run owns (absent in runs started before rounds existed: 0). */
  round?: number;
}

export type WebhookDeliveryResult = 'delivered' | 'dead' | 'gone' | 'parked' | 'held' | 'done';

/**
 * One backoff run per delivery: a start while one runs joins it (the dispatcher repeating its hand-over);
 * a start after it finished (a redriven delivery failing again) begins a new round.
 */
export const webhookDeliveryStartOptions = (taskQueue: string, input: WebhookDeliveryInput) => ({
  taskQueue,
  workflowId: webhookDeliveryWorkflowId(input.delivery_id, input.round),
  args: [input] as [WebhookDeliveryInput],
  workflowIdConflictPolicy: 'USE_EXISTING' as const,
  workflowIdReusePolicy: 'ALLOW_DUPLICATE' as const,
});

export interface AttemptInput {
  tenant_id: string;
  delivery_id: string;
  policy: RetryPolicy;
  /** The workflow's (replay-safe) random for the next delay's jitter. */
  jitter: number;
  /** The run's round: a delivery that has moved on to a later round is not touched (`done`). */
  round?: number;
}

export interface AttemptResult {
  /**
   * `done`: delivered or dead already (a repeated activity); `parked`: the endpoint is disabled; `held`: its
   * circuit breaker is open, no attempt was made (none counted) and the run ends: the delivery waits as `held`
   * and its release (the breaker closing, or an admin enabling the endpoint) hands it to a new run.
   */
  outcome: 'delivered' | 'gone' | 'failed' | 'done' | 'parked' | 'held';
  attempts: number;
  /** After a failure: the wait before the next attempt (recorded as the delivery's next_attempt_at); null: retries spent. */
  next_delay_ms: number | null;
}

/** What the workflow asks of its activities (implemented in activities/webhook-delivery.ts). */
export interface WebhookDeliveryActivities {
  /** Exactly one HTTP attempt, logged; the activity retries only its own infrastructure failures. */
  attemptWebhookDelivery(input: AttemptInput): Promise<AttemptResult>;
  /** Dead-letters the delivery: audited, and a live notification for the tenant's admins. */
  deadLetterWebhookDelivery(input: { tenant_id: string; delivery_id: string; reason?: string; round?: number }): Promise<void>;
}
