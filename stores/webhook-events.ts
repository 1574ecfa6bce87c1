/** The change feed: a tenant's deliverable events in `seq` order, with the bodies the webhooks send. */
import type pg from 'pg';
import type { WebhookEnvelope } from '../domain/webhooks';
import { withTenant } from '../platform/tenant-db';

export interface FeedEvent extends WebhookEnvelope {
  id: string;
  seq: number;
}

export interface FeedQuery {
  /** Events after this seq (0: from the start). */
  after: number;
  limit: number;
  /** Internal notes are left out unless asked for. */
  includeInternal: boolean;
}

export function webhookEventStore(pool: pg.Pool) {
  return {
    /** Up to `limit + 1` events (the extra one tells the caller there is a next page). */
    async feed(tenantId: string, q: FeedQuery): Promise<FeedEvent[]> {
      return withTenant(pool, tenantId, async (db) => {
        // `webhook.test` is sent to one endpoint on request: not a change of the tenant's.
        const { rows } = await db.query<{ id: string; seq: string; body: string }>(
          `SELECT id, seq, body FROM webhook_events
           WHERE tenant_id = $1 AND seq > $2 AND type <> 'webhook.test' AND ($3 OR NOT internal)
           ORDER BY seq LIMIT $4`,
          [tenantId, q.after, q.includeInternal, q.limit + 1],
        );
        return rows.map((r) => {
          const { type, timestamp, data } = JSON.parse(r.body) as WebhookEnvelope;
          return { id: r.id, seq: Number(r.seq), type, timestamp, data };
        });
      });
    },
  };
}
export type WebhookEventStore = ReturnType<typeof webhookEventStore>;
