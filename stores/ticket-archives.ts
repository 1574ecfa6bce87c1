/**
 * Archived tickets (PostgreSQL): the metadata row that stays when a ticket's hot rows go, the snapshot a ticket is
 * exported from, and the two transactions that move a ticket out of the hot tables and back. Tenant-scoped twice like
 * every store (WHERE and row-level security); the look-ups across tenants and the deletes go through the narrow
 * SECURITY DEFINER functions of migration 019, since the application role has no DELETE.
 */
import pg from 'pg';
import type { ArchivalCandidate, ArchivalCursor, ArchiveDocument } from '../domain/archive';
import type { Actor } from '../domain/ticket';
import { appendAudit } from '../platform/audit';
import { type Db, inTenantTransaction, withTenant } from '../platform/tenant-db';

/** A row as exported (`to_jsonb`): every column, timestamps as ISO 8601 in UTC to the microsecond. */
export type Row = Record<string, unknown>;

export interface ExportRows {
  ticket: Row;
  messages: Row[];
  timeline: Row[];
  sla_metrics: Row[];
  attachments: Row[];
  audit: Row[];
  held: boolean;
}

/** What the archive transaction records (before it removes the hot rows). */
export interface ArchiveRecord {
  ticket_id: string;
  subject: string;
  priority: string;
  channel: string;
  customer_id: string;
  assignee_id: string | null;
  group_id: string | null;
  tags: string[];
  ticket_version: number;
  ticket_created_at: string;
  ticket_updated_at: string;
  closed_at: string;
  location: string;
  sha256: string;
  size_bytes: number;
  storage_class: string;
  message_count: number;
  attachment_count: number;
  attachment_bytes: number;
  /** Every hot object of the ticket's attachments (deleted after the commit). */
  source_keys: string[];
}

export interface ArchiveRow extends Omit<ArchiveRecord, 'source_keys'> {
  tenant_id: string;
  state: 'archived' | 'restored';
  archived_at: string;
  generation: number;
  restored_at: string | null;
  legal_hold: boolean;
}

/** What a lifecycle notice (`ticket.archived`, `ticket.restored`) carries into the webhook outbox and the live bus. */
export interface Notice {
  id: string;
  type: 'ticket.archived' | 'ticket.restored';
  body: string;
}

export type RecordOutcome = 'archived' | 'already_archived' | 'not_closed' | 'legal_hold' | 'not_verified';
export type RestoreOutcome = 'restored' | 'already_restored' | 'not_archived';

/** Leaves a transaction by rolling it back, with the reason as its outcome. */
class Rollback extends Error {
  constructor(readonly outcome: string) {
    super(outcome);
  }
}

/** A timestamp as the API writes them (ISO 8601, UTC, milliseconds); `US`: to the microsecond (cursors name exact rows). */
const ISO_UTC = (column: string, precision: 'MS' | 'US' = 'MS') => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.${precision}"Z"')`;

/** One statement, one snapshot: the ticket and everything that belongs to it, exported whole. $1 tenant, $2 ticket. */
const EXPORT = `
SELECT (SELECT to_jsonb(t) FROM tickets t WHERE t.tenant_id = $1 AND t.id = $2) AS ticket,
  coalesce((SELECT jsonb_agg(to_jsonb(m) ORDER BY m.created_at, m.id) FROM messages m WHERE m.tenant_id = $1 AND m.ticket_id = $2), '[]') AS messages,
  coalesce((SELECT jsonb_agg(to_jsonb(e) ORDER BY e.version) FROM ticket_events e WHERE e.tenant_id = $1 AND e.ticket_id = $2), '[]') AS timeline,
  coalesce((SELECT jsonb_agg(to_jsonb(s) ORDER BY s.metric, s.cycle) FROM ticket_sla s WHERE s.tenant_id = $1 AND s.ticket_id = $2), '[]') AS sla_metrics,
  coalesce((SELECT jsonb_agg(to_jsonb(a) ORDER BY a.created_at, a.position, a.id) FROM attachments a WHERE a.tenant_id = $1 AND a.ticket_id = $2), '[]') AS attachments,
  coalesce((SELECT jsonb_agg(to_jsonb(l) ORDER BY l.seq) FROM audit_log l
            WHERE l.tenant_id = $1 AND l.entity_type = 'ticket' AND l.entity_id = $2::text), '[]') AS audit,
  EXISTS (SELECT 1 FROM ticket_legal_holds h WHERE h.tenant_id = $1 AND h.ticket_id = $2 AND h.held) AS held`;

/** A ticket archived before (then restored) is archived again in place: a new generation, the same keys. */
const UPSERT_ARCHIVE = `
INSERT INTO ticket_archives (ticket_id, tenant_id, state, subject, priority, channel, customer_id, assignee_id, group_id, tags, ticket_version,
                             ticket_created_at, ticket_updated_at, closed_at, location, sha256, size_bytes, storage_class, message_count,
                             attachment_count, attachment_bytes, verified_at, source_keys)
VALUES ($1, $2, 'archived', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, now(), $21)
ON CONFLICT (ticket_id) DO UPDATE SET
  state = 'archived', subject = EXCLUDED.subject, priority = EXCLUDED.priority, channel = EXCLUDED.channel, customer_id = EXCLUDED.customer_id,
  assignee_id = EXCLUDED.assignee_id, group_id = EXCLUDED.group_id, tags = EXCLUDED.tags, ticket_version = EXCLUDED.ticket_version,
  ticket_created_at = EXCLUDED.ticket_created_at, ticket_updated_at = EXCLUDED.ticket_updated_at, closed_at = EXCLUDED.closed_at,
  location = EXCLUDED.location, sha256 = EXCLUDED.sha256, size_bytes = EXCLUDED.size_bytes, storage_class = EXCLUDED.storage_class,
  message_count = EXCLUDED.message_count, attachment_count = EXCLUDED.attachment_count, attachment_bytes = EXCLUDED.attachment_bytes,
  verified_at = EXCLUDED.verified_at, archived_at = now(), generation = ticket_archives.generation + 1,
  source_keys = EXCLUDED.source_keys, sources_purged_at = NULL
WHERE ticket_archives.tenant_id = EXCLUDED.tenant_id AND ticket_archives.state = 'restored'
RETURNING generation, ${ISO_UTC('archived_at')} AS archived_at`;

/**
 * A notice is not a ticket version (the ticket is unchanged), so its webhook event has no `ticket_version`; its id,
 * derived from the ticket and the archive generation, keeps a retried transaction from recording it twice. One
 * delivery per subscribed endpoint, as the projection writes them. Runs after the transaction's audit entry, whose
 * trigger holds the tenant's chain lock until commit, so feed positions follow commit order here too.
 */
const INSERT_NOTICE = `
WITH hook AS (
  INSERT INTO webhook_events (id, tenant_id, type, ticket_id, ticket_version, internal, body)
  VALUES ($1, $2, $3, $4, NULL, false, $5)
  ON CONFLICT (id) DO NOTHING
  RETURNING seq, type
), deliveries AS (
  INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_seq, event_type, ticket_id, status)
  SELECT gen_random_uuid(), $2, ep.id, h.seq, h.type, $4, CASE WHEN ep.enabled THEN 'pending' ELSE 'held' END
  FROM hook h
  JOIN webhook_endpoints ep ON ep.tenant_id = $2 AND ep.deleted_at IS NULL AND (cardinality(ep.event_types) = 0 OR h.type = ANY (ep.event_types))
  ORDER BY ep.id
  RETURNING 1
)
SELECT (SELECT count(*) FROM hook)::int AS inserted`;

const ROW_COLUMNS = `a.ticket_id, a.tenant_id, a.state, a.subject, a.priority, a.channel, a.customer_id, a.assignee_id, a.group_id, a.tags,
  a.ticket_version, ${ISO_UTC('a.ticket_created_at')} AS ticket_created_at, ${ISO_UTC('a.ticket_updated_at')} AS ticket_updated_at,
  ${ISO_UTC('a.closed_at')} AS closed_at, a.location, a.sha256, a.size_bytes::float8 AS size_bytes, a.storage_class, a.message_count,
  a.attachment_count, a.attachment_bytes::float8 AS attachment_bytes, ${ISO_UTC('a.archived_at')} AS archived_at, a.generation,
  ${ISO_UTC('a.restored_at')} AS restored_at,
  EXISTS (SELECT 1 FROM ticket_legal_holds h WHERE h.tenant_id = a.tenant_id AND h.ticket_id = a.ticket_id AND h.held) AS legal_hold`;

/** Tables a restore writes back, parents first. */
const RESTORED_TABLES = ['tickets', 'ticket_sla', 'messages', 'ticket_events', 'attachments'] as const;

async function insertNotice(db: Db, tenantId: string, ticketId: string, notice: Notice): Promise<boolean> {
  const { rows } = await db.query<{ inserted: number }>(INSERT_NOTICE, [notice.id, tenantId, notice.type, ticketId, notice.body]);
  return rows[0]!.inserted > 0;
}

/**
 * Inserts exported rows back as they were. The columns are those the rows carry that the table has today: a column
 * added since the export takes its default, one dropped since is left out.
 */
async function insertRows(db: Db, table: (typeof RESTORED_TABLES)[number], rows: Row[]): Promise<void> {
  if (rows.length === 0) return;
  const { rows: columns } = await db.query<{ name: string }>(
    'SELECT attname AS name FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum',
    [table],
  );
  const present = columns.map((c) => c.name).filter((name) => rows.some((row) => name in row));
  const list = present.map((name) => pg.escapeIdentifier(name)).join(', ');
  const relation = pg.escapeIdentifier(table);
  await db.query(`INSERT INTO ${relation} (${list}) SELECT ${list} FROM jsonb_populate_recordset(NULL::${relation}, $1::jsonb)`, [JSON.stringify(rows)]);
}

export function ticketArchiveStore(pool: pg.Pool) {
  return {
    /** Due tickets of every tenant after the cursor, oldest closed first (cross-tenant: the SECURITY DEFINER look-up). */
    async candidates(asOf: string, defaultDays: number, after: ArchivalCursor | null, limit: number): Promise<ArchivalCandidate[]> {
      const { rows } = await pool.query<ArchivalCandidate>(
        // closed_at as exact text: the cursor must name the row it stopped at, to the microsecond.
        `SELECT tenant_id, ticket_id, ${ISO_UTC('closed_at', 'US')} AS closed_at FROM archival_candidates($1, $2, $3, $4, $5)`,
        [asOf, defaultDays, after?.closed_at ?? null, after?.ticket_id ?? null, limit],
      );
      return rows;
    },

    /** Archived tickets whose hot attachment objects are still to be deleted. */
    async unpurged(limit: number): Promise<{ tenant_id: string; ticket_id: string }[]> {
      const { rows } = await pool.query<{ tenant_id: string; ticket_id: string }>('SELECT tenant_id, ticket_id FROM archives_with_sources($1)', [limit]);
      return rows;
    },

    /** The ticket and all its rows, or null when it has no hot row. */
    async exportRows(tenantId: string, ticketId: string): Promise<ExportRows | null> {
      return inTenantTransaction(pool, tenantId, async (db) => {
        // UTC whatever the server's zone: the same rows always export the same bytes.
        await db.query("SET LOCAL TIME ZONE 'UTC'");
        const { rows } = await db.query<ExportRows & { ticket: Row | null }>(EXPORT, [tenantId, ticketId]);
        const found = rows[0]!;
        return found.ticket ? found : null;
      });
    },

    async get(tenantId: string, ticketId: string): Promise<ArchiveRow | null> {
      return withTenant(pool, tenantId, async (db) => {
        const { rows } = await db.query<ArchiveRow>(`SELECT ${ROW_COLUMNS} FROM ticket_archives a WHERE a.tenant_id = $1 AND a.ticket_id = $2`, [
          tenantId,
          ticketId,
        ]);
        return rows[0] ?? null;
      });
    },

    /**
     * Records a verified export and removes the ticket's hot rows, in one transaction: the archive row first, then the
     * removal (which checks that very row), the audit entry and the `ticket.archived` notice. Any refusal rolls it all
     * back and says why. `notice` builds the event from the archive's generation and time.
     */
    async recordArchive(
      tenantId: string,
      r: ArchiveRecord,
      notice: (archive: { generation: number; archived_at: string }) => Notice,
    ): Promise<{ outcome: RecordOutcome; notice?: Notice; published?: boolean }> {
      try {
        return await inTenantTransaction(pool, tenantId, async (db) => {
          const upserted = await db.query<{ generation: number; archived_at: string }>(UPSERT_ARCHIVE, [
            r.ticket_id,
            tenantId,
            r.subject,
            r.priority,
            r.channel,
            r.customer_id,
            r.assignee_id,
            r.group_id,
            r.tags,
            r.ticket_version,
            r.ticket_created_at,
            r.ticket_updated_at,
            r.closed_at,
            r.location,
            r.sha256,
            r.size_bytes,
            r.storage_class,
            r.message_count,
            r.attachment_count,
            r.attachment_bytes,
            r.source_keys,
          ]);
          const archive = upserted.rows[0];
          if (!archive) throw new Rollback('already_archived');
          const { rows } = await db.query<{ outcome: string }>('SELECT archive_remove_hot_ticket($1) AS outcome', [r.ticket_id]);
          if (rows[0]!.outcome !== 'removed') throw new Rollback(rows[0]!.outcome);
          await appendAudit(db, {
            tenant_id: tenantId,
            actor: { type: 'system', id: 'archival' },
            action: 'ticket.archived',
            entity_type: 'ticket',
            entity_id: r.ticket_id,
            after: { location: r.location, sha256: r.sha256, size: r.size_bytes, generation: archive.generation, version: r.ticket_version },
          });
          const event = notice(archive);
          const published = await insertNotice(db, tenantId, r.ticket_id, event);
          return { outcome: 'archived' as const, notice: event, published };
        });
      } catch (err) {
        if (err instanceof Rollback) return { outcome: err.outcome as RecordOutcome };
        throw err;
      }
    },

    /**
     * Deletes the hot attachment objects of an archived ticket (through `remove`) and marks them gone, under the archive
     * row's lock: a restore takes that lock too before copying files back, so no deletion can hit a restored file.
     * False when there was nothing to do.
     */
    async purgeSources(tenantId: string, ticketId: string, remove: (keys: string[]) => Promise<void>): Promise<boolean> {
      return inTenantTransaction(pool, tenantId, async (db) => {
        const { rows } = await db.query<{ source_keys: string[] }>(
          `SELECT source_keys FROM ticket_archives
           WHERE tenant_id = $1 AND ticket_id = $2 AND state = 'archived' AND sources_purged_at IS NULL FOR UPDATE`,
          [tenantId, ticketId],
        );
        if (!rows[0]) return false;
        await remove(rows[0].source_keys);
        await db.query(`UPDATE ticket_archives SET sources_purged_at = now(), source_keys = '{}' WHERE tenant_id = $1 AND ticket_id = $2`, [
          tenantId,
          ticketId,
        ]);
        return true;
      });
    },

    /**
     * Puts an archived ticket's rows back (the document was verified by the caller, its files already copied back) and
     * marks the archive `restored`, with the audit entry and the `ticket.restored` notice, in one transaction under
     * the archive row's lock. The archive itself is kept.
     */
    async restore(
      tenantId: string,
      doc: ArchiveDocument,
      actor: Actor,
      requestId: string | null,
      notice: (restored: { generation: number; restored_at: string }) => Notice,
    ): Promise<{ outcome: RestoreOutcome; notice?: Notice; published?: boolean }> {
      return inTenantTransaction(pool, tenantId, async (db) => {
        const { rows } = await db.query<{ state: string; generation: number }>(
          'SELECT state, generation FROM ticket_archives WHERE tenant_id = $1 AND ticket_id = $2 FOR UPDATE',
          [tenantId, doc.ticket_id],
        );
        if (!rows[0]) return { outcome: 'not_archived' as const };
        if (rows[0].state !== 'archived') return { outcome: 'already_restored' as const };
        await insertRows(db, 'tickets', [doc.ticket]);
        await insertRows(db, 'ticket_sla', doc.sla.metrics);
        await insertRows(db, 'messages', doc.messages);
        await insertRows(db, 'ticket_events', doc.timeline);
        await insertRows(
          db,
          'attachments',
          doc.attachments.map(({ archive_key: _where, ...row }) => row),
        );
        const restored = await db.query<{ restored_at: string }>(
          `UPDATE ticket_archives SET state = 'restored', restored_at = now(), restored_by_type = $3, restored_by_id = $4
           WHERE tenant_id = $1 AND ticket_id = $2 RETURNING ${ISO_UTC('restored_at')} AS restored_at`,
          [tenantId, doc.ticket_id, actor.type, actor.id],
        );
        await appendAudit(db, {
          tenant_id: tenantId,
          actor,
          action: 'ticket.restored',
          entity_type: 'ticket',
          entity_id: doc.ticket_id,
          after: { version: doc.ticket_version, messages: doc.messages.length, attachments: doc.attachments.length, generation: rows[0].generation },
          request_id: requestId,
        });
        const event = notice({ generation: rows[0].generation, restored_at: restored.rows[0]!.restored_at });
        const published = await insertNotice(db, tenantId, doc.ticket_id, event);
        return { outcome: 'restored' as const, notice: event, published };
      });
    },
  };
}
export type TicketArchiveStore = ReturnType<typeof ticketArchiveStore>;
