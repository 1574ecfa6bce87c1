/**
 * Legal holds on tickets, hot or archived: a held ticket is never archived, and nothing may delete it or its archive
 * (archive_remove_hot_ticket refuses it; anything that deletes archives must check `ticket_legal_holds` too). Setting
 * and lifting are audited like every admin change, and take the ticket's row lock, which archival's removal takes too:
 * a hold and an archival of the same ticket never cross.
 */
import type pg from 'pg';
import type { LegalHold } from '../domain/archive';
import type { Identity } from '../domain/identity';
import type { Actor } from '../domain/ticket';
import { appendAudit } from '../platform/audit';
import { type Db, inTenantTransaction, withTenant } from '../platform/tenant-db';

const HOLD_COLUMNS = `h.held, h.reason, to_char(h.changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS changed_at,
  h.changed_by_type, h.changed_by_id`;

interface HoldRow {
  held: boolean | null;
  reason: string | null;
  changed_at: string | null;
  changed_by_type: string | null;
  changed_by_id: string | null;
}

const holdOf = (ticketId: string, row: HoldRow | undefined): LegalHold => ({
  ticket_id: ticketId,
  held: row?.held ?? false,
  reason: row?.held ? row.reason : null,
  changed_at: row?.changed_at ?? null,
  changed_by: row?.changed_by_type ? { type: row.changed_by_type as Actor['type'], id: row.changed_by_id } : null,
});

/** Locks the ticket (its hot row, else its archive row); false when the tenant has no such ticket. */
async function lockTicket(db: Db, tenantId: string, ticketId: string): Promise<boolean> {
  const hot = await db.query('SELECT 1 FROM tickets WHERE tenant_id = $1 AND id = $2 FOR UPDATE', [tenantId, ticketId]);
  if (hot.rowCount) return true;
  const archived = await db.query('SELECT 1 FROM ticket_archives WHERE tenant_id = $1 AND ticket_id = $2 FOR UPDATE', [tenantId, ticketId]);
  return Boolean(archived.rowCount);
}

export function legalHoldStore(pool: pg.Pool) {
  /** Sets (`reason`) or lifts (null) the hold; null when there is no such ticket. Changes nothing, and audits nothing, when it is so already. */
  async function change(who: Identity, ticketId: string, reason: string | null, requestId?: string): Promise<LegalHold | null> {
    return inTenantTransaction(pool, who.tenantId, async (db) => {
      if (!(await lockTicket(db, who.tenantId, ticketId))) return null;
      const { rows } = await db.query<HoldRow>(`SELECT ${HOLD_COLUMNS} FROM ticket_legal_holds h WHERE h.tenant_id = $1 AND h.ticket_id = $2 FOR UPDATE`, [
        who.tenantId,
        ticketId,
      ]);
      const before = holdOf(ticketId, rows[0]);
      const held = reason !== null;
      if (before.held === held && before.reason === reason) return before;
      const { rows: after } = await db.query<HoldRow>(
        `INSERT INTO ticket_legal_holds AS h (ticket_id, tenant_id, held, reason, changed_by_type, changed_by_id)
         VALUES ($2, $1, $3, $4, $5, $6)
         ON CONFLICT (ticket_id) DO UPDATE SET held = EXCLUDED.held, reason = EXCLUDED.reason, changed_by_type = EXCLUDED.changed_by_type,
           changed_by_id = EXCLUDED.changed_by_id, changed_at = now()
         WHERE h.tenant_id = EXCLUDED.tenant_id
         RETURNING ${HOLD_COLUMNS}`,
        [who.tenantId, ticketId, held, reason, who.actor.type, who.actor.id],
      );
      await appendAudit(db, {
        tenant_id: who.tenantId,
        actor: who.actor,
        action: held ? 'ticket.legal_hold_set' : 'ticket.legal_hold_released',
        entity_type: 'ticket',
        entity_id: ticketId,
        before: { held: before.held, reason: before.reason },
        after: { held, reason },
        request_id: requestId,
      });
      return holdOf(ticketId, after[0]);
    });
  }

  return {
    /** The ticket's hold (held: false when it never had one); null when the tenant has no such ticket, hot or archived. */
    async get(tenantId: string, ticketId: string): Promise<LegalHold | null> {
      return withTenant(pool, tenantId, async (db) => {
        const { rows } = await db.query<HoldRow & { exists: boolean }>(
          `SELECT (EXISTS (SELECT 1 FROM tickets WHERE tenant_id = $1 AND id = $2)
                   OR EXISTS (SELECT 1 FROM ticket_archives WHERE tenant_id = $1 AND ticket_id = $2)) AS exists, ${HOLD_COLUMNS}
           FROM (SELECT 1) one LEFT JOIN ticket_legal_holds h ON h.tenant_id = $1 AND h.ticket_id = $2`,
          [tenantId, ticketId],
        );
        return rows[0]?.exists ? holdOf(ticketId, rows[0].held === null ? undefined : rows[0]) : null;
      });
    },
    set: (who: Identity, ticketId: string, reason: string, requestId?: string) => change(who, ticketId, reason, requestId),
    release: (who: Identity, ticketId: string, requestId?: string) => change(who, ticketId, null, requestId),
  };
}
export type LegalHoldStore = ReturnType<typeof legalHoldStore>;
