/**
 * Bulk redrive of an endpoint's dead letters: batch after batch in (created_at, id) order, paced to a rate by
 * durable timers, continuing as new every few batches so the history stays small. The cursor lives in the
 * redrive's row (written with each batch), so a worker crash, a repeated activity or a new run resumes there.
 */
import { continueAsNew, proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { WebhookRedriveActivities, WebhookRedriveInput } from './webhook-redrive-contract';

const { requeueRedriveBatch } = proxyActivities<WebhookRedriveActivities>({
  // One transaction of at most WEBHOOK_REDRIVE_BATCH rows: seconds at most. Short, because a worker killed mid-batch
  // is noticed only when this runs out, and the redrive waits that long before the batch is tried again.
  startToCloseTimeout: '15 seconds',
  // Only our own failures (database) land here; a batch is one transaction, so retrying it is safe.
  retry: { initialInterval: '1s', maximumInterval: '1 minute' },
});

export async function webhookRedriveWorkflow(input: WebhookRedriveInput): Promise<void> {
  const { tenant_id, redrive_id, per_second, batch_size, batches_per_run } = input;
  for (let batches = 1; ; batches++) {
    const batch = await requeueRedriveBatch({ tenant_id, redrive_id, limit: batch_size });
    if (batch.done) return;
    // The rate: this batch's share of a second at `per_second`.
    await sleep(Math.ceil((batch.requeued * 1000) / per_second), { summary: `paced after ${batch.requeued} requeued` });
    if (batches >= batches_per_run || workflowInfo().continueAsNewSuggested) await continueAsNew<typeof webhookRedriveWorkflow>(input);
  }
}
