/**
 * Writes the ticket workflow's state to the PostgreSQL query projection. Idempotent: a retried or
 * replayed write carries the same version, and an older version never overwrites a newer one.
 */
import type pg from 'pg';
import type { TicketEvent } from '../domain/events';
import type { Message, Ticket } from '../domain/ticket';
import { appendAudit } from '../platform/audit';
import { inTenantTransaction } from '../platform/tenant-db';

export interface TicketChange {
  ticket: Ticket;
  event: TicketEvent;
  message?: Message;
}

export interface ProjectionActivities {
  projectTicketChange(change: TicketChange): Promise<void>;
}

const UPSERT_TICKET = `
INSERT INTO tickets (id, tenant_id, subject, description, status, priority, channel, customer_id, assignee_id,
                     group_id, tags, version, created_at, updated_at, first_agent_reply_at, solved_at, closed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
ON CONFLICT (id) DO UPDATE SET
  subject = EXCLUDED.subject, status = EXCLUDED.status, priority = EXCLUDED.priority,
  assignee_id = EXCLUDED.assignee_id, group_id = EXCLUDED.group_id, tags = EXCLUDED.tags,
  version = EXCLUDED.version, updated_at = EXCLUDED.updated_at,
  first_agent_reply_at = EXCLUDED.first_agent_reply_at, solved_at = EXCLUDED.solved_at, closed_at = EXCLUDED.closed_at
WHERE tickets.version < EXCLUDED.version AND tickets.tenant_id = EXCLUDED.tenant_id`;

const INSERT_MESSAGE = `
INSERT INTO messages (id, tenant_id, ticket_id, visibility, author_type, author_id, body, external_id, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (id) DO NOTHING`;

const INSERT_EVENT = `
INSERT INTO ticket_events (tenant_id, ticket_id, version, type, actor_type, actor_id, changes, data, occurred_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (ticket_id, version) DO NOTHING`;

export function createProjectionActivities(pool: pg.Pool): ProjectionActivities {
  return {
    async projectTicketChange({ ticket: t, event: e, message: m }) {
      await inTenantTransaction(pool, t.tenant_id, async (db) => {
        await db.query(UPSERT_TICKET, [
          t.id, t.tenant_id, t.subject, t.description, t.status, t.priority, t.channel, t.customer_id,
          t.assignee_id, t.group_id, t.tags, t.version, t.created_at, t.updated_at, t.first_agent_reply_at,
          t.solved_at, t.closed_at,
        ]);
        if (m) {
          await db.query(INSERT_MESSAGE, [m.id, m.tenant_id, m.ticket_id, m.visibility, m.author_type, m.author_id, m.body, m.external_id, m.created_at]);
        }
        const inserted = await db.query(INSERT_EVENT, [
          e.tenant_id, e.ticket_id, e.version, e.type, e.actor.type, e.actor.id, JSON.stringify(e.changes),
          JSON.stringify(e.data), e.occurred_at,
        ]);
        // Audit once per version: a retried write finds its event already there and appends nothing.
        if (inserted.rowCount === 1) await appendAudit(db, auditOf(t, e));
      });
    },
  };
}

/** Ticket changes in the audit trail: which fields moved (no message bodies: those stay in messages). */
function auditOf(t: Ticket, e: TicketEvent) {
  const before = Object.fromEntries(Object.entries(e.changes).map(([field, c]) => [field, c.from]));
  const after = Object.fromEntries(Object.entries(e.changes).map(([field, c]) => [field, c.to]));
  if (e.type === 'ticket.created') {
    const { subject, status, priority, channel, customer_id, assignee_id, group_id, tags } = t;
    Object.assign(after, { subject, status, priority, channel, customer_id, assignee_id, group_id, tags });
  }
  return {
    tenant_id: t.tenant_id,
    actor: e.actor,
    action: e.type,
    entity_type: 'ticket',
    entity_id: t.id,
    before: e.type === 'ticket.created' ? null : before,
    after: { ...after, version: t.version, ...e.data },
  };
}
