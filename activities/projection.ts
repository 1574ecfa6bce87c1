/**
 * Writes the ticket workflow's state to the PostgreSQL query projection. Idempotent: a retried or
 * replayed write carries the same versions, an older version never overwrites a newer one, and each
 * timeline event (and its audit entry) is written once. New events are then published live (Redis).
 */
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { TicketEvent } from '../domain/events';
import { nextDueAt } from '../domain/sla';
import type { Message, Ticket } from '../domain/ticket';
import { appendAudit } from '../platform/audit';
import { type Db, inTenantTransaction } from '../platform/tenant-db';

export interface TicketChange {
  ticket: Ticket;
  /** One per version, oldest first; the last carries `ticket.version`. */
  events: TicketEvent[];
  message?: Message;
}

export interface ProjectionActivities {
  projectTicketChange(change: TicketChange): Promise<void>;
}

/** The Redis pub/sub channel of a tenant's live events (WebSocket fan-out subscribes to it). */
export const liveChannel = (tenantId: string) => `live:${tenantId}`;

const UPSERT_TICKET = `
INSERT INTO tickets (id, tenant_id, subject, description, status, priority, channel, customer_id, assignee_id,
                     group_id, tags, version, created_at, updated_at, first_agent_reply_at, solved_at, closed_at,
                     sla, sla_policy_id, next_sla_due_at, sla_warned, sla_breached)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)
ON CONFLICT (id) DO UPDATE SET
  subject = EXCLUDED.subject, status = EXCLUDED.status, priority = EXCLUDED.priority,
  assignee_id = EXCLUDED.assignee_id, group_id = EXCLUDED.group_id, tags = EXCLUDED.tags,
  version = EXCLUDED.version, updated_at = EXCLUDED.updated_at,
  first_agent_reply_at = EXCLUDED.first_agent_reply_at, solved_at = EXCLUDED.solved_at, closed_at = EXCLUDED.closed_at,
  sla = EXCLUDED.sla, sla_policy_id = EXCLUDED.sla_policy_id, next_sla_due_at = EXCLUDED.next_sla_due_at,
  sla_warned = EXCLUDED.sla_warned, sla_breached = EXCLUDED.sla_breached
WHERE tickets.version < EXCLUDED.version AND tickets.tenant_id = EXCLUDED.tenant_id`;

const INSERT_MESSAGE = `
INSERT INTO messages (id, tenant_id, ticket_id, visibility, author_type, author_id, body, external_id, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (id) DO NOTHING`;

const INSERT_EVENT = `
INSERT INTO ticket_events (tenant_id, ticket_id, version, type, actor_type, actor_id, changes, data, occurred_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (ticket_id, version) DO NOTHING`;

const UPSERT_METRIC = `
INSERT INTO ticket_sla (tenant_id, ticket_id, metric, cycle, policy_id, policy_version, status, target_ms, started_at, due_at,
                        paused_ms, warned_at, breached_at, achieved_at, business_ms)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
ON CONFLICT (ticket_id, metric, cycle) DO UPDATE SET
  policy_id = EXCLUDED.policy_id, policy_version = EXCLUDED.policy_version, status = EXCLUDED.status,
  target_ms = EXCLUDED.target_ms, due_at = EXCLUDED.due_at, paused_ms = EXCLUDED.paused_ms, warned_at = EXCLUDED.warned_at,
  breached_at = EXCLUDED.breached_at, achieved_at = EXCLUDED.achieved_at, business_ms = EXCLUDED.business_ms`;

export function createProjectionActivities(pool: pg.Pool, redis?: Redis): ProjectionActivities {
  return {
    async projectTicketChange({ ticket: t, events, message: m }) {
      const fresh = await inTenantTransaction(pool, t.tenant_id, async (db) => {
        const active = (t.sla?.metrics ?? []).filter((x) => x.status === 'running' || x.status === 'paused');
        const upserted = await db.query(UPSERT_TICKET, [
          t.id, t.tenant_id, t.subject, t.description, t.status, t.priority, t.channel, t.customer_id,
          t.assignee_id, t.group_id, t.tags, t.version, t.created_at, t.updated_at, t.first_agent_reply_at,
          t.solved_at, t.closed_at, t.sla ? JSON.stringify(t.sla) : null, t.sla?.policy_id ?? null, nextDueAt(t.sla),
          active.some((x) => x.warned_at !== null), active.some((x) => x.breached_at !== null),
        ]);
        if (upserted.rowCount === 1 && t.sla) await projectSla(db, t);
        if (m) {
          await db.query(INSERT_MESSAGE, [m.id, m.tenant_id, m.ticket_id, m.visibility, m.author_type, m.author_id, m.body, m.external_id, m.created_at]);
        }
        const inserted: TicketEvent[] = [];
        for (const e of events) {
          const result = await db.query(INSERT_EVENT, [
            e.tenant_id, e.ticket_id, e.version, e.type, e.actor.type, e.actor.id, JSON.stringify(e.changes),
            JSON.stringify(e.data), e.occurred_at,
          ]);
          // Audit once per version: a retried write finds its event already there and appends nothing.
          if (result.rowCount === 1) inserted.push(e);
        }
        // Audit last: the chain's per-tenant lock is then held only until the commit right after.
        for (const e of inserted) await appendAudit(db, auditOf(t, e));
        return inserted;
      });
      // Live fan-out after commit; at most once (a lost live event is recovered from the timeline).
      if (redis && fresh.length) {
        await Promise.all(fresh.map((e) => redis.publish(liveChannel(t.tenant_id), JSON.stringify(e)))).catch(() => undefined);
      }
    },
  };
}

async function projectSla(db: Db, t: Ticket): Promise<void> {
  for (const x of t.sla!.metrics) {
    if (x.status === 'inactive') continue;
    await db.query(UPSERT_METRIC, [
      t.tenant_id, t.id, x.metric, x.cycle, t.sla!.policy_id, t.sla!.policy_version, x.status, x.target_ms, x.started_at,
      x.due_at, x.paused_ms, x.warned_at, x.breached_at, x.achieved_at, x.consumed_ms,
    ]);
  }
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
    after: { ...after, version: e.version, ...e.data },
  };
}
