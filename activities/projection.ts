/**
 * Writes the ticket workflow's state to the PostgreSQL query projection. Idempotent: a retried or
 * replayed write carries the same versions, an older version never overwrites a newer one, and each
 * timeline event (and its audit entry) is written once. The webhook outbox (deliverable events and one
 * delivery per subscribed endpoint) commits in the same statement, so no change is lost on its way to
 * delivery. New events are then published live (Redis).
 */
import { nameBasedUuid } from '../platform/name-uuid';
import { ApplicationFailure } from '@temporalio/common';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { ErrorCode } from '../domain/errors';
import type { TicketEvent } from '../domain/events';
import { nextDueAt } from '../domain/sla';
import type { Ticket } from '../domain/ticket';
import { attachmentStorageKey } from '../domain/attachment';
import { type WebhookEvent, webhookEventsOf } from '../domain/webhooks';
import { AUDIT_COLUMNS } from '../platform/audit';
import { DEFAULT_LIVE_WINDOW, type LiveRecord, type LiveWindow, publishLiveEvent } from '../platform/live-bus';
import { classifyDbError } from '../platform/db-errors';
import { withTenant } from '../platform/tenant-db';
import { currentTraceParent } from '../platform/tracing';
import type { ProjectionActivities, Projected } from '../workflows/ticket-contract';

/**
 * The whole change in one statement (one round trip, atomic as any single statement): the ticket row
 * (only if this version is newer), its SLA metrics (only then), the message, the timeline events
 * (each version once), the message's attachments linked to it, an audit entry for each event actually inserted,
 * and for those the deliverable webhook events with their deliveries. The audit chain's
 * per-tenant lock is taken by the audit trigger and released at the commit that ends the statement,
 * so ticket writes of one tenant queue on it only for the end of one statement.
 */
const PROJECT_CHANGE = `
WITH t AS (
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
  WHERE tickets.version < EXCLUDED.version AND tickets.tenant_id = EXCLUDED.tenant_id
  RETURNING id
), metrics AS (
  INSERT INTO ticket_sla (tenant_id, ticket_id, metric, cycle, policy_id, policy_version, status, target_ms, started_at, due_at,
                          paused_ms, warned_at, breached_at, achieved_at, business_ms)
  SELECT $2, $1, m.metric, m.cycle, m.policy_id, m.policy_version, m.status, m.target_ms, m.started_at, m.due_at,
         m.paused_ms, m.warned_at, m.breached_at, m.achieved_at, m.business_ms
  FROM jsonb_to_recordset($23::jsonb) AS m(metric text, cycle integer, policy_id uuid, policy_version integer, status text,
       target_ms double precision, started_at timestamptz, due_at timestamptz, paused_ms double precision, warned_at timestamptz,
       breached_at timestamptz, achieved_at timestamptz, business_ms double precision)
  WHERE EXISTS (SELECT 1 FROM t)
  ON CONFLICT (ticket_id, metric, cycle) DO UPDATE SET
    policy_id = EXCLUDED.policy_id, policy_version = EXCLUDED.policy_version, status = EXCLUDED.status,
    target_ms = EXCLUDED.target_ms, due_at = EXCLUDED.due_at, paused_ms = EXCLUDED.paused_ms, warned_at = EXCLUDED.warned_at,
    breached_at = EXCLUDED.breached_at, achieved_at = EXCLUDED.achieved_at, business_ms = EXCLUDED.business_ms
), message AS (
  INSERT INTO messages (id, tenant_id, ticket_id, visibility, author_type, author_id, body, external_id, created_at)
  SELECT m.id, $2, $1, m.visibility, m.author_type, m.author_id, m.body, m.external_id, m.created_at
  FROM jsonb_to_recordset($24::jsonb) AS m(id uuid, visibility text, author_type text, author_id text, body text,
       external_id text, created_at timestamptz)
  ON CONFLICT (id) DO NOTHING
), attached AS (
  -- The message's files, stored (and their rows inserted as \`stored\`) by the API before its update: linked in this
  -- statement, so a message is never seen without its attachments. A retried write finds them linked already. An
  -- email's files have no row yet (a new ticket's did not exist when they were stored): inserted here, linked.
  INSERT INTO attachments AS a (id, tenant_id, ticket_id, message_id, position, filename, content_type, size_bytes, sha256,
    storage_key, status, created_by_type, created_by_id)
  SELECT f.id, $2, $1, $30, f.position, f.filename, f.content_type, f.size, f.sha256, f.storage_key, 'linked', $31, $32
  FROM jsonb_to_recordset($29::jsonb) AS f(id uuid, position smallint, filename text, content_type text, size bigint,
       sha256 text, storage_key text)
  ON CONFLICT (id) DO UPDATE SET message_id = EXCLUDED.message_id, status = 'linked'
  WHERE a.tenant_id = EXCLUDED.tenant_id AND a.ticket_id = EXCLUDED.ticket_id AND a.status = 'stored'
), events AS (
  INSERT INTO ticket_events (tenant_id, ticket_id, version, type, actor_type, actor_id, changes, data, occurred_at)
  SELECT $2, $1, e.version, e.type, e.actor_type, e.actor_id, e.changes, e.data, e.occurred_at
  FROM jsonb_to_recordset($25::jsonb) AS e(version integer, type text, actor_type text, actor_id text, changes jsonb,
       data jsonb, occurred_at timestamptz)
  ON CONFLICT (ticket_id, version) DO NOTHING
  RETURNING version
), audit AS (
  -- Audit once per version: a retried write finds its events already there and appends nothing.
  INSERT INTO audit_log (${AUDIT_COLUMNS})
  SELECT $2, a.actor_type, a.actor_id, a.action, 'ticket', $1::text, a.before, a.after, NULL
  FROM jsonb_to_recordset($26::jsonb) AS a(version integer, actor_type text, actor_id text, action text, before jsonb, after jsonb)
  WHERE a.version IN (SELECT version FROM events)
  ORDER BY a.version
  RETURNING seq
), hooks AS (
  -- The change's deliverable events, once per version like the timeline. They wait for the audit rows, whose
  -- trigger holds the tenant's chain lock until commit, so within a tenant \`seq\` is taken in commit order:
  -- a feed reader past seq n never sees an event below n commit later.
  INSERT INTO webhook_events (id, tenant_id, type, ticket_id, ticket_version, internal, body, trace_parent)
  SELECT w.id, $2, w.type, $1, w.version, w.internal, w.body, $28
  FROM jsonb_to_recordset($27::jsonb) AS w(id uuid, type text, version integer, internal boolean, body text)
  WHERE w.version IN (SELECT version FROM events) AND EXISTS (SELECT 1 FROM audit)
  ORDER BY w.version
  ON CONFLICT DO NOTHING
  RETURNING seq, type, internal
), deliveries AS (
  -- The outbox: one delivery per subscribed endpoint, committed with the change. A paused endpoint's are held,
  -- not skipped, so resuming it loses nothing; internal notes go only to endpoints that opted in.
  INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_seq, event_type, ticket_id, status)
  SELECT gen_random_uuid(), $2, ep.id, h.seq, h.type, $1, CASE WHEN ep.enabled THEN 'pending' ELSE 'held' END
  FROM hooks h
  JOIN webhook_endpoints ep ON ep.tenant_id = $2 AND ep.deleted_at IS NULL
    AND (cardinality(ep.event_types) = 0 OR h.type = ANY (ep.event_types))
    AND (NOT h.internal OR ep.include_internal)
  ORDER BY h.seq, ep.id
)
SELECT array(SELECT version FROM events ORDER BY version) AS inserted,
       (SELECT json_build_object('policy_version', p.version, 'calendar_version', coalesce(b.version, 0))
        FROM sla_policies p LEFT JOIN business_hours b ON b.tenant_id = p.tenant_id AND b.id = p.calendar_id
        WHERE p.tenant_id = $2 AND p.id = $19) AS sla_config`;

export function createProjectionActivities(pool: pg.Pool, redis?: Redis, liveWindow: LiveWindow = DEFAULT_LIVE_WINDOW): ProjectionActivities {
  return {
    async projectTicketChange({ ticket: t, events, message: m }) {
      const active = (t.sla?.metrics ?? []).filter((x) => x.status === 'running' || x.status === 'paused');
      const metrics = (t.sla?.metrics ?? [])
        .filter((x) => x.status !== 'inactive')
        .map((x) => ({
          metric: x.metric,
          cycle: x.cycle,
          policy_id: t.sla!.policy_id,
          policy_version: t.sla!.policy_version,
          status: x.status,
          target_ms: x.target_ms,
          started_at: x.started_at,
          due_at: x.due_at,
          paused_ms: x.paused_ms,
          warned_at: x.warned_at,
          breached_at: x.breached_at,
          achieved_at: x.achieved_at,
          business_ms: x.consumed_ms,
        }));
      const messages = m
        ? [
            {
              id: m.id,
              visibility: m.visibility,
              author_type: m.author_type,
              author_id: m.author_id,
              body: m.body,
              external_id: m.external_id,
              created_at: m.created_at,
            },
          ]
        : [];
      const rows = events.map((e) => ({
        version: e.version,
        type: e.type,
        actor_type: e.actor.type,
        actor_id: e.actor.id,
        changes: e.changes,
        data: e.data,
        occurred_at: e.occurred_at,
      }));
      const audits = events.map((e) => {
        const a = auditOf(t, e);
        return { version: e.version, actor_type: a.actor.type, actor_id: a.actor.id, action: a.action, before: a.before, after: a.after };
      });
      const deliverable = webhookEventsOf(t, events, m);
      const hooks = deliverable.map((w) => ({
        id: webhookEventId(w),
        type: w.type,
        version: w.ticket_version,
        internal: w.internal,
        body: w.body,
      }));
      const { rows: result } = await withTenant(pool, t.tenant_id, (db) =>
        // A prepared statement of each pooled connection: this CTE is parsed and planned once per connection, not per write.
        db.query<{ inserted: number[]; sla_config: Projected['sla_config'] }>({
          name: 'project_ticket_change',
          text: PROJECT_CHANGE,
          values: [
            t.id,
            t.tenant_id,
            t.subject,
            t.description,
            t.status,
            t.priority,
            t.channel,
            t.customer_id,
            t.assignee_id,
            t.group_id,
            t.tags,
            t.version,
            t.created_at,
            t.updated_at,
            t.first_agent_reply_at,
            t.solved_at,
            t.closed_at,
            t.sla ? JSON.stringify(t.sla) : null,
            t.sla?.policy_id ?? null,
            nextDueAt(t.sla),
            active.some((x) => x.warned_at !== null),
            active.some((x) => x.breached_at !== null),
            JSON.stringify(metrics),
            JSON.stringify(messages),
            JSON.stringify(rows),
            JSON.stringify(audits),
            JSON.stringify(hooks),
            hooks.length ? currentTraceParent() : null,
            JSON.stringify((m?.attachments ?? []).map((a, position) => ({ ...a, position, storage_key: attachmentStorageKey(t.tenant_id, t.id, a.id) }))),
            m?.id ?? null,
            // Who the files' rows name when the projection inserts them: whoever made the change.
            events.at(-1)?.actor.type ?? 'system',
            events.at(-1)?.actor.id ?? null,
          ],
        }),
      ).catch(nonRetryableUnlessTransient);
      const committedAt = Date.now();
      const inserted = new Set(result[0]?.inserted ?? []);
      // Live fan-out after commit, in version order. The events this call inserted, and those a retried call finds
      // inserted already if they are recent enough to be in the resume window: the attempt that committed them may have
      // died before publishing. Each is published under its event id, once (platform/live-bus.ts), so a client sees it
      // once either way. Sent, not awaited: one connection keeps the order, and neither the write's answer nor a Redis
      // outage waits on it (a client that misses one in an outage re-reads over REST).
      if (redis && deliverable.length) {
        const recent = Date.now() - liveWindow.ms;
        const occurredAt = (w: WebhookEvent) => Date.parse(events.find((e) => e.version === w.ticket_version)?.occurred_at ?? '');
        const live = deliverable.filter((w) => inserted.has(w.ticket_version) || occurredAt(w) > recent);
        for (const w of live) void publishLiveEvent(redis, t.tenant_id, liveRecordOf(t, events, w), liveWindow, webhookEventId(w)).catch(() => undefined);
      }
      return { committed_at: committedAt, sla_config: result[0]?.sla_config ?? null };
    },
  };
}

/** A catalog event as the live bus carries it: the webhook envelope, and the ticket's queue facts before and after. */
function liveRecordOf(t: Ticket, events: TicketEvent[], w: WebhookEvent): LiveRecord {
  const changes = events.find((e) => e.version === w.ticket_version)?.changes ?? {};
  const before = <K extends 'status' | 'assignee_id' | 'group_id'>(field: K) => (field in changes ? (changes[field]!.from as Ticket[K]) : t[field]);
  const was = { status: before('status'), assignee_id: before('assignee_id'), group_id: before('group_id') };
  const moved = was.status !== t.status || was.assignee_id !== t.assignee_id || was.group_id !== t.group_id;
  return {
    audience: 'tickets',
    ticket: { id: t.id, status: t.status, assignee_id: t.assignee_id, group_id: t.group_id, was: moved ? was : null },
    internal: w.internal,
    event: JSON.parse(w.body),
  };
}

/** Name-based (v5) uuids of webhook events: the same change always names its events alike. */
const WEBHOOK_EVENT_NAMESPACE = '6f1c0d3e-8b9a-4f5e-9d2c-7b1a0e3f5d7c';
export function webhookEventId(w: Pick<WebhookEvent, 'ticket_id' | 'ticket_version' | 'type'>): string {
  return nameBasedUuid(WEBHOOK_EVENT_NAMESPACE, `${w.ticket_id}:${w.ticket_version}:${w.type}`);
}

/**
 * The statement is atomic, so a failed attempt wrote nothing. A transient failure is retried (the
 * ticket waits for PostgreSQL to come back); any other fails the same way every time and is
 * returned to the workflow at once, which rejects the change instead of retrying it forever.
 */
function nonRetryableUnlessTransient(err: unknown): never {
  const kind = classifyDbError(err);
  if (kind === 'transient') throw err;
  const e = err as { code?: string; message?: string };
  throw ApplicationFailure.create({
    type: (kind === 'rejected_data' ? 'unstorable_change' : 'change_failed') satisfies ErrorCode,
    message: `the projection refused the change: ${e.message ?? String(err)}`,
    nonRetryable: true,
    details: [{ sqlstate: e.code ?? null }],
  });
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
