/**
 * Webhook baselines' workflow bundle: bare Temporal doing what a delivery does at its simplest, an activity
 * POSTing the body. A: one workflow per delivery; B: one workflow per batch, every activity started at once.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { BareActivities, BarePost } from './webhook-contract';

const { barePost } = proxyActivities<BareActivities>({ startToCloseTimeout: '30 seconds' });

export async function bareWebhookOne(post: BarePost): Promise<void> {
  await barePost(post);
}

export async function bareWebhookBatch(posts: BarePost[]): Promise<void> {
  await Promise.all(posts.map((p) => barePost(p)));
}
