/**
 * Retention of the webhook delivery log: attempts older than the retention go, in batches, until none is left.
 * Deliveries and events stay: `webhook_events` is the change feed, which promises every event in order to a
 * consumer at any cursor, and a delivery is the record behind each event's `webhook-id`.
 */
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { WebhookRetentionActivities, WebhookRetentionInput } from './webhook-retention-contract';

const { purgeWebhookAttempts } = proxyActivities<WebhookRetentionActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '1s', maximumInterval: '1 minute', maximumAttempts: 10 },
});

export async function webhookRetentionWorkflow(input: WebhookRetentionInput): Promise<number> {
  // One cut-off for the whole run, from the workflow's (replay-safe) clock.
  const before = new Date(Date.now() - input.retention_ms).toISOString();
  let purged = 0;
  for (;;) {
    const n = await purgeWebhookAttempts({ before, limit: input.batch_size });
    purged += n;
    // The next scheduled run picks up the rest if this one grew long.
    if (n < input.batch_size || workflowInfo().continueAsNewSuggested) return purged;
  }
}
