/**
 * The durable backoff of one webhook delivery whose first attempt (made by the dispatcher, no workflow)
 * failed: sleep, one attempt, repeat; dead letter after the last retry. Runs on the webhook task queue,
 * so failing receivers never hold up ticket workflows or SLA timers.
 */
import { proxyActivities, sleep } from '@temporalio/workflow';
import { retryDelayMs } from '../domain/webhook-retry';
import type { WebhookDeliveryActivities, WebhookDeliveryInput, WebhookDeliveryResult } from './webhook-delivery-contract';

const { attemptWebhookDelivery, deadLetterWebhookDelivery } = proxyActivities<WebhookDeliveryActivities>({
  // Past the HTTP timeout (at most a minute by configuration) plus the database writes around it.
  startToCloseTimeout: '2 minutes',
  // Only our own failures (database, decrypting) land here: an HTTP failure is a result, not an error.
  retry: { initialInterval: '1s', maximumInterval: '1 minute' },
});

export async function webhookDeliveryWorkflow(input: WebhookDeliveryInput): Promise<WebhookDeliveryResult> {
  const schedule = { baseMs: input.base_delay_ms, maxMs: input.max_delay_ms };
  let made = input.attempts_made;
  let retryAfter = input.retry_after_ms;
  while (made < 1 + input.max_retries) {
    const delay = retryDelayMs(made, schedule, Math.random(), retryAfter); // the workflow's seeded random: replay-safe
    await sleep(delay, { summary: `retry ${made} of ${input.max_retries}${retryAfter !== null ? ' (Retry-After)' : ''}` });
    const result = await attemptWebhookDelivery({ tenant_id: input.tenant_id, delivery_id: input.delivery_id });
    if (result.outcome !== 'failed') return result.outcome;
    made = result.attempts;
    retryAfter = result.retry_after_ms;
  }
  await deadLetterWebhookDelivery({ tenant_id: input.tenant_id, delivery_id: input.delivery_id });
  return 'dead';
}
