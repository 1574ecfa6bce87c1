/** Reads of the ticket projection (PostgreSQL). Every query is tenant-scoped twice: WHERE and RLS. */
import type pg from 'pg';
import type { TicketEvent } from '../domain/events';
import type { PolicySnapshot } from '../domain/sla-policy';
import type { CreateTicketInput, Message, Ticket, TicketPriority, TicketStatus } from '../domain/ticket';
import { type ActivePolicy, matchedSnapshot, matchingPolicyJson } from '../platform/sla-policies';
import { type Db, withTenant } from '../platform/tenant-db';
import { DeskflowError } from '../domain/errors';
import { MESSAGE_ATTACHMENTS_JSON } from './attachments';

const TICKET_COLUMNS = `id, tenant_id, subject, description, status, priority, channel, customer_id, assignee_id, group_id,
  tags, version, created_at, updated_at, first_agent_reply_at, solved_at, closed_at, sla`;
const GET_TICKET = `SELECT ${TICKET_COLUMNS} FROM tickets WHERE tenant_id = $1 AND id = $2`;
/** Read as `FROM messages m`: each message with its attachments' metadata. */
const MESSAGE_COLUMNS = `id, tenant_id, ticket_id, visibility, author_type, author_id, body, external_id, created_at,
  ${MESSAGE_ATTACHMENTS_JSON} AS attachments`;

export interface TicketFilter {
  status?: TicketStatus[];
  priority?: TicketPriority;
  assignee_id?: string;
  customer_id?: string;
  tag?: string;
  /** `at_risk`: warned, or due within the at-risk window, and not breached; `breached`: a running metric breached. */
  sla?: 'at_risk' | 'breached';
  atRiskWindowMs?: number;
  /** `created` (newest first, default) or `sla_due` (soonest SLA deadline first, none last). */
  sort?: 'created' | 'sla_due';
  after?: unknown[];
  limit: number;
}

export interface TicketReferences {
  assignee_id?: string | null;
  group_id?: string | null;
}

/** Whether the assignee and the group (placeholders given; NULL: none named) exist in tenant $1. */
const references = (assignee: string, group: string) =>
  `(${assignee}::uuid IS NULL OR EXISTS (SELECT 1 FROM users WHERE tenant_id = $1 AND id = ${assignee} AND active)) AS assignee,
  (${group}::uuid IS NULL OR EXISTS (SELECT 1 FROM groups WHERE tenant_id = $1 AND id = ${group})) AS grp`;

async function assertReferences(db: Db, tenantId: string, refs: TicketReferences): Promise<void> {
  if (!refs.assignee_id && !refs.group_id) return;
  const { rows } = await db.query<{ assignee: boolean; grp: boolean }>(`SELECT ${references('$2', '$3')}`, [
    tenantId,
    refs.assignee_id ?? null,
    refs.group_id ?? null,
  ]);
  refuseUnknownReferences(rows[0]?.assignee, rows[0]?.grp);
}

function refuseUnknownReferences(assignee: boolean | undefined, group: boolean | undefined): void {
  if (!assignee) throw new DeskflowError('unknown_reference', 'assignee_id does not name an active user of this tenant', { field: 'assignee_id' });
  if (!group) throw new DeskflowError('unknown_reference', 'group_id does not name a group of this tenant', { field: 'group_id' });
}

/** $1 tenant, $2 customer, $3 assignee, $4 group, $5 priority, $6 channel, $7 tags. */
const OPENING_FACTS = `SELECT EXISTS (SELECT 1 FROM customers WHERE tenant_id = $1 AND id = $2 AND erased_at IS NULL) AS customer,
  ${references('$3', '$4')},
  ${matchingPolicyJson({ tenant: '$1', priority: '$5', channel: '$6', tags: '$7', customer: '$2' })} AS policy`;

export function ticketStore(pool: pg.Pool) {
  return {
    async get(tenantId: string, id: string): Promise<Ticket | null> {
      return withTenant(pool, tenantId, async (db) => {
        // The hottest read of the API: a prepared statement of each pooled connection (parsed and planned once).
        const { rows } = await db.query<Ticket>({ name: 'ticket_get', text: GET_TICKET, values: [tenantId, id] });
        return rows[0] ?? null;
      });
    },

    /**
     * What opening a ticket needs to know first, on one connection: does the customer exist, do the
     * assignee and group, which SLA policy applies.
     */
    async openingFacts(tenantId: string, input: CreateTicketInput): Promise<{ customerExists: boolean; policy: PolicySnapshot | null }> {
      // One round trip on the create path: the customer, the references and the matching policy with its calendar.
      const { rows } = await withTenant(pool, tenantId, (db) =>
        db.query<{ customer: boolean; assignee: boolean; grp: boolean; policy: ActivePolicy | null }>({
          name: 'ticket_opening_facts',
          text: OPENING_FACTS,
          values: [tenantId, input.customer_id, input.assignee_id ?? null, input.group_id ?? null, input.priority, input.channel, input.tags],
        }),
      );
      const facts = rows[0]!;
      if (!facts.customer) return { customerExists: false, policy: null };
      refuseUnknownReferences(facts.assignee, facts.grp);
      const policy = matchedSnapshot(facts.policy, {
        priority: input.priority,
        channel: input.channel,
        tags: input.tags,
        customer_id: input.customer_id,
      });
      return { customerExists: true, policy };
    },

    /** An assignee must be an active user and a group a group of the tenant (else 422, whatever the reason). */
    async checkReferences(tenantId: string, refs: TicketReferences): Promise<void> {
      if (!refs.assignee_id && !refs.group_id) return;
      await withTenant(pool, tenantId, (db) => assertReferences(db, tenantId, refs));
    },

    /** Newest first, keyset-paginated; fetches limit+1 rows to know whether there is more. */
    async list(tenantId: string, f: TicketFilter): Promise<(Ticket & { sort_due: string })[]> {
      const where = ['tenant_id = $1'];
      const values: unknown[] = [tenantId];
      const add = (sql: string, value: unknown) => {
        values.push(value);
        where.push(sql.replace('?', `$${values.length}`));
      };
      if (f.status) add('status = ANY(?)', f.status);
      if (f.priority) add('priority = ?', f.priority);
      if (f.assignee_id) add('assignee_id = ?', f.assignee_id);
      if (f.customer_id) add('customer_id = ?', f.customer_id);
      if (f.tag) add('tags @> ARRAY[?]::text[]', f.tag);
      if (f.sla === 'breached') where.push('sla_breached');
      if (f.sla === 'at_risk')
        add('NOT sla_breached AND (sla_warned OR next_sla_due_at < now() + make_interval(secs => ?))', (f.atRiskWindowMs ?? 3_600_000) / 1000);
      const due = "coalesce(next_sla_due_at, 'infinity'::timestamptz)";
      if (f.after) {
        values.push(f.after[0], f.after[1]);
        const [a, b] = [`$${values.length - 1}`, `$${values.length}`];
        where.push(f.sort === 'sla_due' ? `(${due}, id) > (${a}::timestamptz, ${b}::uuid)` : `(created_at, id) < (${a}::timestamptz, ${b}::uuid)`);
      }
      values.push(f.limit + 1);
      const order = f.sort === 'sla_due' ? `${due}, id` : 'created_at DESC, id DESC';
      return withTenant(pool, tenantId, async (db) => {
        const { rows } = await db.query<Ticket & { sort_due: string }>(
          `SELECT ${TICKET_COLUMNS}, ${due} AS sort_due FROM tickets WHERE ${where.join(' AND ')} ORDER BY ${order} LIMIT $${values.length}`,
          values,
        );
        return rows;
      });
    },

    async messages(tenantId: string, ticketId: string, limit: number, after?: [string, string]): Promise<Message[]> {
      return withTenant(pool, tenantId, async (db) => {
        const { rows } = await db.query<Message>(
          `SELECT ${MESSAGE_COLUMNS} FROM messages m
           WHERE tenant_id = $1 AND ticket_id = $2 AND ($3::timestamptz IS NULL OR (created_at, id) > ($3::timestamptz, $4::uuid))
           ORDER BY created_at, id LIMIT $5`,
          [tenantId, ticketId, after?.[0] ?? null, after?.[1] ?? null, limit + 1],
        );
        return rows;
      });
    },

    async message(tenantId: string, ticketId: string, id: string): Promise<Message | null> {
      return withTenant(pool, tenantId, async (db) => {
        const { rows } = await db.query<Message>(`SELECT ${MESSAGE_COLUMNS} FROM messages m WHERE tenant_id = $1 AND ticket_id = $2 AND id = $3`, [
          tenantId,
          ticketId,
          id,
        ]);
        return rows[0] ?? null;
      });
    },

    /** The ticket an email threads to: the one holding a message with one of these Message-IDs. */
    async threadOf(tenantId: string, messageIds: string[]): Promise<string | null> {
      if (messageIds.length === 0) return null;
      return withTenant(pool, tenantId, async (db) => {
        const { rows } = await db.query<{ ticket_id: string }>(
          `SELECT ticket_id FROM messages WHERE tenant_id = $1 AND external_id = ANY($2) ORDER BY created_at DESC LIMIT 1`,
          [tenantId, messageIds],
        );
        return rows[0]?.ticket_id ?? null;
      });
    },

    async events(tenantId: string, ticketId: string, limit: number, afterVersion = 0, typePrefix?: string): Promise<TicketEvent[]> {
      return withTenant(pool, tenantId, async (db) => {
        const { rows } = await db.query(
          `SELECT tenant_id, ticket_id, version, type, actor_type, actor_id, changes, data, occurred_at FROM ticket_events
           WHERE tenant_id = $1 AND ticket_id = $2 AND version > $3 AND ($5::text IS NULL OR starts_with(type, $5))
           ORDER BY version LIMIT $4`,
          [tenantId, ticketId, afterVersion, limit + 1, typePrefix ?? null],
        );
        return rows.map(({ actor_type, actor_id, ...rest }) => ({ ...rest, actor: { type: actor_type, id: actor_id } }));
      });
    },
  };
}
export type TicketStore = ReturnType<typeof ticketStore>;
