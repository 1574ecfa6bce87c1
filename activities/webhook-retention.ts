/** The webhook retention workflow's activity: a batch of old attempts purged. */
import type pg from 'pg';
import { webhookRetentionStore } from '../stores/webhook-retention';
import type { WebhookRetentionActivities } from '../workflows/webhook-retention-contract';

export function createWebhookRetentionActivities(deps: { pool: pg.Pool }): WebhookRetentionActivities {
  const store = webhookRetentionStore(deps.pool);
  return { purgeWebhookAttempts: ({ before, limit }) => store.purgeAttempts(before, limit) };
}
