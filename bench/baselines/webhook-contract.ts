/**
 * Webhook baselines: the contract shared by their workflow bundle, their worker and the bench client.
 * Kept apart from webhook-workflows.ts so the client never imports workflow code.
 */

/** One delivery: the receiver's URL, the `webhook-id` it is recognised by, the bytes to POST. */
export interface BarePost {
  url: string;
  id: string;
  body: string;
}

/** Baseline A: one workflow per delivery (one activity). */
export const BARE_ONE_WORKFLOW_TYPE = 'bareWebhookOne';
/** Baseline B: one workflow per batch, its activities in parallel. */
export const BARE_BATCH_WORKFLOW_TYPE = 'bareWebhookBatch';

export interface BareActivities {
  barePost(post: BarePost): Promise<number>;
}
