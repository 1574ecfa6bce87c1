/** The audit trail as the API reads it (newest first, filtered) and the entries written outside any other change. */
import type pg from 'pg';
import { type AuditEntry, appendAudit } from '../platform/audit';
import { withTenant } from '../platform/tenant-db';

export interface AuditFilter {
  entity_type?: string;
  entity_id?: string;
  actor_id?: string;
  action?: string;
  /** ISO times: from inclusive, to exclusive. */
  from?: string;
  to?: string;
  /** Entries older than this seq (the cursor). */
  before?: number | null;
}

export interface AuditRecord {
  seq: number;
  actor: { type: string; id: string | null };
  action: string;
  entity_type: string;
  entity_id: string | null;
  before: unknown;
  after: unknown;
  request_id: string | null;
  occurred_at: string;
  hash: string;
}

export function auditStore(pool: pg.Pool) {
  return {
    /** Up to `limit + 1` entries (the extra one tells the caller there is a next page). */
    async list(tenantId: string, filter: AuditFilter, limit: number): Promise<AuditRecord[]> {
      return withTenant(pool, tenantId, async (db) => {
        const result = await db.query(
          `SELECT seq::int, actor_type, actor_id, action, entity_type, entity_id, before, after, request_id, occurred_at, hash
           FROM audit_log WHERE tenant_id = $1
             AND ($2::text IS NULL OR entity_type = $2) AND ($3::text IS NULL OR entity_id = $3)
             AND ($4::text IS NULL OR actor_id = $4) AND ($5::text IS NULL OR action = $5)
             AND ($6::timestamptz IS NULL OR occurred_at >= $6) AND ($7::timestamptz IS NULL OR occurred_at < $7)
             AND ($8::bigint IS NULL OR seq < $8)
           ORDER BY seq DESC LIMIT $9`,
          [
            tenantId,
            filter.entity_type ?? null,
            filter.entity_id ?? null,
            filter.actor_id ?? null,
            filter.action ?? null,
            filter.from ?? null,
            filter.to ?? null,
            filter.before ?? null,
            limit + 1,
          ],
        );
        return result.rows.map(({ actor_type, actor_id, ...rest }) => ({ ...rest, actor: { type: actor_type, id: actor_id } }));
      });
    },

    /** An entry that is a change of its own (a login, a logout), in its tenant's scope. */
    async record(entry: AuditEntry): Promise<void> {
      await withTenant(pool, entry.tenant_id, (db) => appendAudit(db, entry));
    },
  };
}
export type AuditStore = ReturnType<typeof auditStore>;
