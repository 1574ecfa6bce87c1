/**
 * The durable backoff of one webhook delivery whose first attempt (made by the dispatcher, no workflow)
 * failed: sleep, one attempt, repeat; dead letter after the last retry. Runs on the webhook task queue,
 * so failing receivers never hold up ticket workflows or SLA timers.
 */
import { ActivityFailure, proxyActivities, sleep } from '@temporalio/workflow';
import type { WebhookDeliveryActivities, WebhookDeliveryInput, WebhookDeliveryResult } from './webhook-delivery-contract';

const { attemptWebhookDelivery, deadLetterWebhookDelivery } = proxyActivities<WebhookDeliveryActivities>({
  // Past the HTTP timeout (at most a minute by configuration) plus the database writes around it.
  startToCloseTimeout: '2 minutes',
  // Only our own failures (database, decrypting) land here: an HTTP failure is a result, not an error.
  // Bounded (about half an hour), so a failure that never heals ends in a dead letter, not in a stuck delivery.
  retry: { initialInterval: '1s', maximumInterval: '1 minute', maximumAttempts: 40 },
});

export async function webhookDeliveryWorkflow(input: WebhookDeliveryInput): Promise<WebhookDeliveryResult> {
  const { tenant_id, delivery_id, policy, round } = input;
  let delay = input.first_delay_ms;
  let attempt = 1;
  while (delay !== null) {
    attempt++;
    await sleep(delay, { summary: `attempt ${attempt} of ${1 + policy.max_retries}` });
    try {
      // Math.random is the workflow's seeded random: the same on replay.
      const result = await attemptWebhookDelivery({ tenant_id, delivery_id, policy, jitter: Math.random(), round });
      if (result.outcome !== 'failed') return result.outcome;
      attempt = result.attempts;
      delay = result.next_delay_ms;
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      await deadLetterWebhookDelivery({ tenant_id, delivery_id, reason: `attempt failed inside Deskflow: ${err.cause?.message ?? err.message}`, round });
      return 'dead';
    }
  }
  await deadLetterWebhookDelivery({ tenant_id, delivery_id, round });
  return 'dead';
}
