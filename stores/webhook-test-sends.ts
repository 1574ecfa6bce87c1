/**
 * A `webhook.test` event sent on request to one endpoint: the event row and its one delivery are written in one
 * tenant-scoped transaction, so the ordinary dispatcher delivers it (signed, retried, logged) like any other.
 * The change feed leaves `webhook.test` out (stores/webhook-events.ts): it is not a change of the tenant's.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { DeskflowError } from '../domain/errors';
import type { Identity } from '../domain/identity';
import { webhookTestBody } from '../domain/webhook-test-event';
import { appendAudit } from '../platform/audit';
import { inTenantTransaction } from '../platform/tenant-db';

export function webhookTestSendStore(pool: pg.Pool) {
  return {
    /**
     * Queues a test delivery with id `deliveryId` (the request's resource id, so a retried request with the same
     * Idempotency-Key finds the delivery it made). A deleted or unknown endpoint is a 404; a disabled one a 409:
     * its deliveries would be held, and a test that cannot arrive checks nothing.
     */
    async send(who: Identity, endpointId: string, deliveryId: string, requestId?: string): Promise<void> {
      await inTenantTransaction(pool, who.tenantId, async (db) => {
        // FOR SHARE: a concurrent disable or delete waits for this send (or this send sees it).
        const { rows } = await db.query<{ enabled: boolean; disabled_reason: string | null }>(
          'SELECT enabled, disabled_reason FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL FOR SHARE',
          [who.tenantId, endpointId],
        );
        const endpoint = rows[0];
        if (!endpoint) throw new DeskflowError('not_found', 'webhook endpoint not found');
        if (!endpoint.enabled) {
          throw new DeskflowError('conflict', `the endpoint is disabled (${endpoint.disabled_reason ?? 'no reason given'}): enable it to send a test event`);
        }
        const done = await db.query('SELECT 1 FROM webhook_deliveries WHERE tenant_id = $1 AND id = $2', [who.tenantId, deliveryId]);
        if (done.rowCount) return; // this request's retry: the first one committed
        // The audit row first: its trigger takes the tenant's chain lock, so this event's seq follows commit order like the projection's.
        await appendAudit(db, {
          tenant_id: who.tenantId,
          actor: who.actor,
          action: 'webhook_endpoint.test_sent',
          entity_type: 'webhook_endpoint',
          entity_id: endpointId,
          after: { delivery_id: deliveryId },
          request_id: requestId,
        });
        const event = await db.query<{ seq: string }>(
          `INSERT INTO webhook_events (id, tenant_id, type, body) VALUES ($1, $2, 'webhook.test', $3) RETURNING seq`,
          [randomUUID(), who.tenantId, webhookTestBody(endpointId, new Date())],
        );
        await db.query(
          `INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_seq, event_type, status) VALUES ($1, $2, $3, $4, 'webhook.test', 'pending')`,
          [deliveryId, who.tenantId, endpointId, event.rows[0]!.seq],
        );
      });
    },
  };
}
export type WebhookTestSendStore = ReturnType<typeof webhookTestSendStore>;
