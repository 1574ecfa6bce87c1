/** The bulk redrive workflow's activity: one batch of an endpoint's dead letters requeued, its progress recorded. */
import type pg from 'pg';
import { webhookRedriveStore } from '../stores/webhook-redrives';
import type { WebhookRedriveActivities } from '../workflows/webhook-redrive-contract';

export function createWebhookRedriveActivities(deps: { pool: pg.Pool }): WebhookRedriveActivities {
  const store = webhookRedriveStore(deps.pool);
  return {
    requeueRedriveBatch: ({ tenant_id, redrive_id, limit }) => store.requeueBatch(tenant_id, redrive_id, limit),
  };
}
