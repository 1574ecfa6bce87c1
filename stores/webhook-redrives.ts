/**
 * Bulk redrives of an endpoint's dead letters: the request (one running per endpoint, enforced by a partial unique
 * index, so two requests can never both start one, and a redrive that just finished never blocks the next), the
 * batches its workflow requeues (through the same transition as a single retry), and the progress the API shows.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Identity } from '../domain/identity';
import { appendAudit } from '../platform/audit';
import { inTenantTransaction, withTenant } from '../platform/tenant-db';
import { requeueDead } from './webhook-deliveries';

export type RedriveState = 'running' | 'completed' | 'cancelled' | 'failed';

export interface RedriveRequest {
  since: string;
  until?: string;
  /** Empty or absent: every type. */
  event_types?: string[];
}

export interface RedriveRecord {
  id: string;
  endpoint_id: string;
  since: string;
  until: string | null;
  event_types: string[];
  per_second: number;
  state: RedriveState;
  requeued: number;
  /** The last dead letter requeued, in walk order; null before the first batch. */
  cursor: { created_at: string; id: string } | null;
  error: string | null;
  requested_by: { type: string; id: string | null };
  created_at: string;
  updated_at: string;
  finished_at: string | null;
}

const COLUMNS = `
  r.id, r.endpoint_id, r.since, r.until, r.event_types, r.per_second, r.state, r.requeued,
  CASE WHEN r.cursor_id IS NULL THEN NULL ELSE json_build_object('created_at', r.cursor_created_at, 'id', r.cursor_id) END AS cursor,
  r.error, json_build_object('type', r.requested_by_type, 'id', r.requested_by_id) AS requested_by,
  r.created_at, r.updated_at, r.finished_at`;

const SELECT = `SELECT ${COLUMNS} FROM webhook_redrives r`;

export type CreateRedriveResult = { created: RedriveRecord } | { running: RedriveRecord } | 'not_found';

export function webhookRedriveStore(pool: pg.Pool) {
  return {
    /** Records a redrive (audited); the endpoint's running one instead if there is one; 'not_found' for another tenant's endpoint. */
    async create(who: Identity, endpointId: string, input: RedriveRequest, perSecond: number, requestId?: string): Promise<CreateRedriveResult> {
      return inTenantTransaction(pool, who.tenantId, async (db) => {
        // The endpoint's row lock orders concurrent requests for it.
        const endpoint = await db.query('SELECT 1 FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL FOR NO KEY UPDATE', [
          who.tenantId,
          endpointId,
        ]);
        if (!endpoint.rowCount) return 'not_found';
        const id = randomUUID();
        const inserted = await db.query(
          `INSERT INTO webhook_redrives (id, tenant_id, endpoint_id, since, until, event_types, per_second, requested_by_type, requested_by_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (tenant_id, endpoint_id) WHERE state = 'running' DO NOTHING`,
          [id, who.tenantId, endpointId, input.since, input.until ?? null, input.event_types ?? [], perSecond, who.actor.type, who.actor.id],
        );
        if (!inserted.rowCount) {
          const running = await db.query<RedriveRecord>(`${SELECT} WHERE r.tenant_id = $1 AND r.endpoint_id = $2 AND r.state = 'running'`, [
            who.tenantId,
            endpointId,
          ]);
          return { running: running.rows[0]! };
        }
        await appendAudit(db, {
          tenant_id: who.tenantId,
          actor: who.actor,
          action: 'webhook_endpoint.redrive_requested',
          entity_type: 'webhook_endpoint',
          entity_id: endpointId,
          after: { redrive_id: id, since: input.since, until: input.until ?? null, event_types: input.event_types ?? [] },
          request_id: requestId,
        });
        const { rows } = await db.query<RedriveRecord>(`${SELECT} WHERE r.tenant_id = $1 AND r.id = $2`, [who.tenantId, id]);
        return { created: rows[0]! };
      });
    },

    async get(tenantId: string, id: string): Promise<RedriveRecord | null> {
      return withTenant(
        pool,
        tenantId,
        async (db) => (await db.query<RedriveRecord>(`${SELECT} WHERE r.tenant_id = $1 AND r.id = $2`, [tenantId, id])).rows[0] ?? null,
      );
    },

    /** Ends a running redrive that cannot go on (its workflow could not be started, or is gone): `failed`, with why. */
    async fail(tenantId: string, id: string, error: string): Promise<void> {
      await withTenant(pool, tenantId, (db) =>
        db.query(
          `UPDATE webhook_redrives SET state = 'failed', error = $3, updated_at = now(), finished_at = now()
           WHERE tenant_id = $1 AND id = $2 AND state = 'running'`,
          [tenantId, id, error],
        ),
      );
    },

    /** Stops a running redrive after its current batch (audited); null for another tenant's or no redrive. */
    async cancel(who: Identity, id: string, requestId?: string): Promise<RedriveRecord | null> {
      return inTenantTransaction(pool, who.tenantId, async (db) => {
        const { rows } = await db.query<{ endpoint_id: string }>(
          `UPDATE webhook_redrives SET state = 'cancelled', updated_at = now(), finished_at = now()
           WHERE tenant_id = $1 AND id = $2 AND state = 'running' RETURNING endpoint_id`,
          [who.tenantId, id],
        );
        if (rows[0]) {
          await appendAudit(db, {
            tenant_id: who.tenantId,
            actor: who.actor,
            action: 'webhook_endpoint.redrive_cancelled',
            entity_type: 'webhook_endpoint',
            entity_id: rows[0].endpoint_id,
            after: { redrive_id: id },
            request_id: requestId,
          });
        }
        return (await db.query<RedriveRecord>(`${SELECT} WHERE r.tenant_id = $1 AND r.id = $2`, [who.tenantId, id])).rows[0] ?? null;
      });
    },

    /**
     * The next `limit` dead letters after the cursor, requeued (audited as the requester's, naming the redrive); the
     * cursor, the count and (when fewer than `limit` were left) the end move in the same transaction.
     */
    async requeueBatch(tenantId: string, id: string, limit: number): Promise<{ requeued: number; done: boolean }> {
      return inTenantTransaction(pool, tenantId, async (db) => {
        const { rows } = await db.query<{
          state: RedriveState;
          endpoint_id: string;
          requested_by_type: string;
          requested_by_id: string | null;
          endpoint_deleted: boolean;
        }>(
          `SELECT r.state, r.endpoint_id, r.requested_by_type, r.requested_by_id, e.deleted_at IS NOT NULL AS endpoint_deleted
           FROM webhook_redrives r JOIN webhook_endpoints e ON e.tenant_id = r.tenant_id AND e.id = r.endpoint_id
           WHERE r.tenant_id = $1 AND r.id = $2 FOR UPDATE OF r`,
          [tenantId, id],
        );
        const redrive = rows[0];
        if (redrive?.state !== 'running') return { requeued: 0, done: true };
        if (redrive.endpoint_deleted) {
          await db.query(
            `UPDATE webhook_redrives SET state = 'cancelled', error = 'the endpoint was deleted', updated_at = now(), finished_at = now()
             WHERE tenant_id = $1 AND id = $2`,
            [tenantId, id],
          );
          return { requeued: 0, done: true };
        }
        // Dead letters in the window, after the cursor, in a stable order (created_at never changes).
        const batch = await db.query<{ id: string }>(
          `SELECT d.id FROM webhook_deliveries d JOIN webhook_redrives r ON r.tenant_id = d.tenant_id AND r.id = $2
           WHERE d.tenant_id = $1 AND d.endpoint_id = r.endpoint_id AND d.status = 'dead'
             AND d.created_at >= r.since AND (r.until IS NULL OR d.created_at < r.until)
             AND (cardinality(r.event_types) = 0 OR d.event_type = ANY (r.event_types))
             AND (r.cursor_id IS NULL OR (d.created_at, d.id) > (r.cursor_created_at, r.cursor_id))
           ORDER BY d.created_at, d.id LIMIT $3
           FOR NO KEY UPDATE OF d`,
          [tenantId, id, limit],
        );
        const ids = batch.rows.map((r) => r.id);
        const actor = { type: redrive.requested_by_type, id: redrive.requested_by_id } as Identity['actor'];
        const requeued = await requeueDead(db, tenantId, ids, { actor, redriveId: id });
        const done = ids.length < limit;
        await db.query(
          `UPDATE webhook_redrives
           SET requeued = requeued + $3, updated_at = now(),
               cursor_created_at = coalesce((SELECT created_at FROM webhook_deliveries WHERE tenant_id = $1 AND id = $5::uuid), cursor_created_at),
               cursor_id = coalesce($5::uuid, cursor_id),
               state = CASE WHEN $4 THEN 'completed' ELSE state END, finished_at = CASE WHEN $4 THEN now() END
           WHERE tenant_id = $1 AND id = $2`,
          [tenantId, id, requeued.length, done, ids.at(-1) ?? null],
        );
        return { requeued: requeued.length, done };
      });
    },
  };
}
export type WebhookRedriveStore = ReturnType<typeof webhookRedriveStore>;
