/**
 * Attachment metadata (PostgreSQL); the bytes are in object storage under `storage_key`. Tenant-scoped twice, like
 * every store: each query names the tenant and row-level security applies. The app role cannot DELETE: rows of an
 * upload whose message was refused go through `discard_attachments` (migration 018), which removes only unlinked rows
 * of the caller's tenant.
 */
import type pg from 'pg';
import type { Actor, Message } from '../domain/ticket';
import type { ObjectStorage } from '../platform/object-storage';
import { withTenant } from '../platform/tenant-db';

export interface NewAttachment {
  id: string;
  ticket_id: string;
  filename: string;
  content_type: string;
  size: number;
  sha256: string;
  storage_key: string;
}

/** What a download needs: the row, and the visibility of the message it belongs to. */
export interface AttachmentRecord {
  id: string;
  ticket_id: string;
  message_id: string;
  filename: string;
  content_type: string;
  size: number;
  sha256: string;
  storage_key: string;
  visibility: Message['visibility'];
}

export function attachmentStore(pool: pg.Pool) {
  return {
    /** Rows of files just stored (status `stored`), in upload order: one statement for all of them. */
    async insertStored(tenantId: string, createdBy: Actor, rows: NewAttachment[]): Promise<void> {
      if (rows.length === 0) return;
      await withTenant(pool, tenantId, (db) =>
        db.query(
          `INSERT INTO attachments (id, tenant_id, ticket_id, position, filename, content_type, size_bytes, sha256, storage_key, status, created_by_type, created_by_id)
           SELECT a.id, $1, a.ticket_id, a.position, a.filename, a.content_type, a.size, a.sha256, a.storage_key, 'stored', $3, $4
           FROM jsonb_to_recordset($2::jsonb)
             AS a(id uuid, ticket_id uuid, position smallint, filename text, content_type text, size bigint, sha256 text, storage_key text)`,
          [tenantId, JSON.stringify(rows.map((row, position) => ({ ...row, position }))), createdBy.type, createdBy.id],
        ),
      );
    },

    /** Removes rows no message has linked; returns the ids that went (linked rows are never removed here). */
    async discard(tenantId: string, ids: string[]): Promise<string[]> {
      if (ids.length === 0) return [];
      const { rows } = await withTenant(pool, tenantId, (db) => db.query<{ id: string }>('SELECT id FROM discard_attachments($1::uuid[]) AS id', [ids]));
      return rows.map((r) => r.id);
    },

    /**
     * Lists the tenant's attachment keys as pending deletions not due before `holdMs` from now (migration 023): called
     * before files whose rows the write itself creates (an inbound email's) are stored, so that nothing stays for ever
     * if that write's outcome is unknown and it never applies. A key a row points to by then is forgotten, not deleted.
     */
    async holdUnconfirmed(tenantId: string, keys: string[], holdMs: number): Promise<void> {
      if (keys.length === 0) return;
      await withTenant(pool, tenantId, (db) => db.query('SELECT hold_unconfirmed_uploads($1::text[], $2)', [keys, Math.ceil(holdMs / 1000)]));
    },

    /** The write carrying these files has answered: their holds go (this tenant's only). */
    async releaseUnconfirmed(tenantId: string, keys: string[]): Promise<void> {
      if (keys.length === 0) return;
      await withTenant(pool, tenantId, (db) => db.query('SELECT release_unconfirmed_uploads($1::text[])', [keys]));
    },

    /** A linked attachment of the tenant with its message's visibility; null for anything else (unlinked, other tenant). */
    async get(tenantId: string, id: string): Promise<AttachmentRecord | null> {
      return withTenant(pool, tenantId, async (db) => {
        const { rows } = await db.query<AttachmentRecord>(
          `SELECT a.id, a.ticket_id, a.message_id, a.filename, a.content_type, a.size_bytes::float8 AS size, a.sha256, a.storage_key, m.visibility
           FROM attachments a JOIN messages m ON m.id = a.message_id AND m.tenant_id = a.tenant_id
           WHERE a.tenant_id = $1 AND a.id = $2 AND a.status = 'linked'`,
          [tenantId, id],
        );
        return rows[0] ?? null;
      });
    },
  };
}
export type AttachmentStore = ReturnType<typeof attachmentStore>;

/**
 * The SQL expression listing a message's attachments as the API shows them (`m` is the messages row), oldest first:
 * used by the message reads of stores/tickets.ts.
 */
export const MESSAGE_ATTACHMENTS_JSON = `coalesce((
  SELECT json_agg(json_build_object('id', a.id, 'filename', a.filename, 'content_type', a.content_type, 'size', a.size_bytes, 'sha256', a.sha256)
                  ORDER BY a.position, a.id)
  FROM attachments a WHERE a.tenant_id = m.tenant_id AND a.message_id = m.id AND a.status = 'linked'), '[]'::json)`;

/**
 * Uploads never linked to a message and older than `before`: the rare leftovers of a write whose outcome the API could
 * not know (its workflow did not answer in time) that then never applied, or of an API process killed between storing
 * and the message. Objects first, then rows, so a failure leaves a row that the next sweep finds again. Runs as the
 * owner (`npm run admin -- sweep-attachments`): it crosses tenants, and deletes.
 */
export async function sweepUnlinkedAttachments(ownerPool: pg.Pool, storage: ObjectStorage, before: Date, limit = 1000): Promise<number> {
  const { rows } = await ownerPool.query<{ id: string; storage_key: string }>(
    `SELECT id, storage_key FROM attachments WHERE status = 'stored' AND created_at < $1 ORDER BY created_at LIMIT $2`,
    [before, limit],
  );
  for (const row of rows) await storage.delete(row.storage_key);
  if (rows.length === 0) return 0;
  const { rowCount } = await ownerPool.query(`DELETE FROM attachments WHERE id = ANY ($1::uuid[]) AND status = 'stored'`, [rows.map((r) => r.id)]);
  return rowCount ?? 0;
}

/**
 * The data retention schedule's share of the same job, with the worker's role (no DELETE on attachments): up to `limit`
 * rows never linked and older than `before` are removed and their objects listed in pending_object_deletions, in one
 * statement (`expire_unlinked_attachments`, migration 023); the schedule's next step deletes the objects.
 */
export async function expireUnlinkedAttachments(pool: pg.Pool, before: Date, limit: number): Promise<number> {
  const { rows } = await pool.query<{ n: number }>('SELECT expire_unlinked_attachments($1, $2) AS n', [before.toISOString(), limit]);
  return rows[0]!.n;
}
