/**
 * Business-hours calendars and SLA policies: reference data, tenant-scoped, versioned and audited.
 * Every policy version is kept (`sla_policy_versions`) so a ticket's deadline stays explainable.
 */
import type pg from 'pg';
import type { CalendarInput } from '../domain/business-hours';
import { assertExpectedVersion, DeskflowError, type FieldIssue } from '../domain/errors';
import type { CreateSlaPolicyInput, EscalationRule, PatchSlaPolicyInput, PolicyConditions, SlaPolicy, SlaRolloutInput } from '../domain/sla-policy';
import { appendAudit } from '../platform/audit';
import { enqueueRollout, markRolloutStarted, type PendingRollout } from '../platform/sla-outbox';
import { type Db, inTenantTransaction, withTenant } from '../platform/tenant-db';
import type { Identity } from '../domain/identity';

/** The rollout a change owes its open tickets, written with the change (see platform/sla-outbox.ts). */
export type Rollout = PendingRollout<SlaRolloutInput>;

export interface BusinessHours extends CalendarInput {
  id: string;
  tenant_id: string;
  version: number;
  created_at: string;
  updated_at: string;
}

const CAL_COLUMNS = 'id, tenant_id, name, time_zone, weekly, holidays, version, created_at, updated_at';
const POLICY_COLUMNS =
  'id, tenant_id, name, position, active, conditions, targets, calendar_id, pause_statuses, escalation_rules, version, created_at, updated_at';

function foreignKey(err: unknown): unknown {
  const e = err as { code?: string };
  if (e?.code === '23503') return new DeskflowError('rule_violation', 'calendar_id does not name a business-hours calendar of this tenant');
  return err;
}

/**
 * Customers a policy matches on, and the users its escalations notify or reassign to, must be this
 * tenant's: another tenant's id (or nobody's) is refused, naming each offending field. Checked in the
 * change's transaction. Groups have no table of their own, so a group id is not checked here.
 */
async function assertReferencesExist(db: Db, tenantId: string, input: { conditions?: PolicyConditions; escalation_rules?: EscalationRule[] }) {
  const customers: [string, string][] = (input.conditions?.customer_ids ?? []).map((id, i) => [`conditions.customer_ids[${i}]`, id]);
  const users: [string, string][] = [];
  const groups: [string, string][] = [];
  for (const [r, rule] of (input.escalation_rules ?? []).entries()) {
    for (const [i, a] of rule.actions.entries()) {
      const at = `escalation_rules[${r}].actions[${i}]`;
      if (a.type === 'notify') for (const [u, id] of a.user_ids.entries()) users.push([`${at}.user_ids[${u}]`, id]);
      if (a.type === 'reassign' && a.assignee_id) users.push([`${at}.assignee_id`, a.assignee_id]);
      if (a.type === 'reassign' && a.group_id) groups.push([`${at}.group_id`, a.group_id]);
    }
  }
  const missing = async (table: 'customers' | 'users' | 'groups', refs: [string, string][], what: string): Promise<FieldIssue[]> => {
    if (refs.length === 0) return [];
    const { rows } = await db.query<{ id: string }>(`SELECT id FROM ${table} WHERE tenant_id = $1 AND id = ANY($2::uuid[])`, [
      tenantId,
      [...new Set(refs.map((r) => r[1]))],
    ]);
    const found = new Set(rows.map((r) => r.id));
    return refs.filter(([, id]) => !found.has(id)).map(([path]) => ({ path, message: `no ${what} with this id in this tenant` }));
  };
  const errors = [
    ...(await missing('customers', customers, 'customer')),
    ...(await missing('users', users, 'user')),
    ...(await missing('groups', groups, 'group')),
  ];
  if (errors.length) throw new DeskflowError('rule_violation', 'the policy refers to customers, users or groups that do not exist', { errors });
}

async function audit(db: Db, who: Identity, action: string, entity: string, id: string, before: unknown, after: unknown, requestId?: string) {
  await appendAudit(db, { tenant_id: who.tenantId, actor: who.actor, action, entity_type: entity, entity_id: id, before, after, request_id: requestId });
}

export interface SlaMetricReport {
  policy_id: string;
  policy_name: string;
  metric: string;
  total: number;
  achieved: number;
  breached: number;
  open: number;
  achievement_rate: number | null;
}
export interface Durations {
  count: number;
  median_seconds: number | null;
  p90_seconds: number | null;
}

export function slaStore(pool: pg.Pool) {
  return {
    /** SLA achievement per policy and metric, and reply/resolution times, of the tickets created in [from, to). */
    async report(tenantId: string, from: string, to: string, policyId: string | null) {
      return withTenant(pool, tenantId, async (db) => {
        const metrics = await db.query<Omit<SlaMetricReport, 'achievement_rate'>>(
          `SELECT ts.policy_id, p.name AS policy_name, ts.metric, count(*)::int AS total,
                  count(*) FILTER (WHERE ts.achieved_at IS NOT NULL AND ts.breached_at IS NULL)::int AS achieved,
                  count(*) FILTER (WHERE ts.breached_at IS NOT NULL)::int AS breached,
                  count(*) FILTER (WHERE ts.status IN ('running', 'paused') AND ts.breached_at IS NULL)::int AS open
           FROM ticket_sla ts JOIN tickets t ON t.id = ts.ticket_id AND t.tenant_id = ts.tenant_id
           JOIN sla_policies p ON p.id = ts.policy_id AND p.tenant_id = ts.tenant_id
           WHERE ts.tenant_id = $1 AND t.created_at >= $2 AND t.created_at < $3 AND ($4::uuid IS NULL OR ts.policy_id = $4)
           GROUP BY ts.policy_id, p.name, ts.metric ORDER BY p.name, ts.metric`,
          [tenantId, from, to, policyId],
        );
        const durations = async (column: 'first_agent_reply_at' | 'solved_at') => {
          const { rows } = await db.query<Durations>(
            `SELECT count(*)::int AS count,
                    percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM ${column} - created_at)) AS median_seconds,
                    percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM ${column} - created_at)) AS p90_seconds
             FROM tickets WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3 AND ${column} IS NOT NULL
               AND ($4::uuid IS NULL OR sla_policy_id = $4)`,
            [tenantId, from, to, policyId],
          );
          return rows[0]!;
        };
        return {
          metrics: metrics.rows.map(
            (r): SlaMetricReport => ({ ...r, achievement_rate: r.achieved + r.breached ? r.achieved / (r.achieved + r.breached) : null }),
          ),
          first_reply: await durations('first_agent_reply_at'),
          resolution: await durations('solved_at'),
        };
      });
    },

    /** The rollout's workflow is running: the outbox row is done (the relay would otherwise start it again, harmlessly). */
    async rolloutStarted(tenantId: string, workflowId: string): Promise<void> {
      await markRolloutStarted(pool, tenantId, workflowId);
    },

    calendars: {
      async create(who: Identity, id: string, input: CalendarInput, requestId?: string): Promise<BusinessHours> {
        return inTenantTransaction(pool, who.tenantId, async (db) => {
          const { rows } = await db.query<BusinessHours>(
            `INSERT INTO business_hours (id, tenant_id, name, time_zone, weekly, holidays) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO NOTHING RETURNING ${CAL_COLUMNS}`,
            [id, who.tenantId, input.name, input.time_zone, JSON.stringify(input.weekly), JSON.stringify(input.holidays)],
          );
          if (!rows[0])
            return (await db.query<BusinessHours>(`SELECT ${CAL_COLUMNS} FROM business_hours WHERE tenant_id = $1 AND id = $2`, [who.tenantId, id])).rows[0]!;
          await audit(db, who, 'business_hours.created', 'business_hours', id, null, input, requestId);
          return rows[0];
        });
      },
      async get(tenantId: string, id: string): Promise<BusinessHours | null> {
        return withTenant(
          pool,
          tenantId,
          async (db) =>
            (await db.query<BusinessHours>(`SELECT ${CAL_COLUMNS} FROM business_hours WHERE tenant_id = $1 AND id = $2`, [tenantId, id])).rows[0] ?? null,
        );
      },
      async list(tenantId: string): Promise<BusinessHours[]> {
        return withTenant(
          pool,
          tenantId,
          async (db) => (await db.query<BusinessHours>(`SELECT ${CAL_COLUMNS} FROM business_hours WHERE tenant_id = $1 ORDER BY name, id`, [tenantId])).rows,
        );
      },
      /** Replaces the calendar (a new version) and records the rollout its policies' open tickets are owed. */
      async replace(who: Identity, id: string, input: CalendarInput, taskQueue: string, expectedVersion?: number, requestId?: string) {
        return inTenantTransaction(pool, who.tenantId, async (db) => {
          const before = (
            await db.query<BusinessHours>(`SELECT ${CAL_COLUMNS} FROM business_hours WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, [who.tenantId, id])
          ).rows[0];
          if (!before) throw new DeskflowError('not_found', 'business-hours calendar not found');
          assertExpectedVersion(before, expectedVersion);
          const { rows } = await db.query<BusinessHours>(
            `UPDATE business_hours SET name = $3, time_zone = $4, weekly = $5, holidays = $6, version = version + 1, updated_at = now()
             WHERE tenant_id = $1 AND id = $2 RETURNING ${CAL_COLUMNS}`,
            [who.tenantId, id, input.name, input.time_zone, JSON.stringify(input.weekly), JSON.stringify(input.holidays)],
          );
          await audit(db, who, 'business_hours.updated', 'business_hours', id, before, input, requestId);
          const policies = await db.query<{ id: string }>('SELECT id FROM sla_policies WHERE tenant_id = $1 AND calendar_id = $2', [who.tenantId, id]);
          const calendar = rows[0]!;
          const rollout: Rollout = {
            workflow_id: `sla-rollout-calendar-${id}-v${calendar.version}`,
            tenant_id: who.tenantId,
            input: { tenant_id: who.tenantId, policy_ids: policies.rows.map((p) => p.id), reason: 'calendar_updated' },
          };
          if (rollout.input.policy_ids.length) await enqueueRollout(db, taskQueue, rollout);
          return { calendar, rollout };
        });
      },
    },

    policies: {
      async create(who: Identity, id: string, input: CreateSlaPolicyInput, requestId?: string): Promise<SlaPolicy> {
        try {
          return await inTenantTransaction(pool, who.tenantId, async (db) => {
            await assertReferencesExist(db, who.tenantId, input);
            const { rows } = await db.query<SlaPolicy>(
              `INSERT INTO sla_policies (id, tenant_id, name, position, active, conditions, targets, calendar_id, pause_statuses, escalation_rules)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING RETURNING ${POLICY_COLUMNS}`,
              [
                id,
                who.tenantId,
                input.name,
                input.position,
                input.active,
                JSON.stringify(input.conditions),
                JSON.stringify(input.targets),
                input.calendar_id,
                input.pause_statuses,
                JSON.stringify(input.escalation_rules),
              ],
            );
            if (!rows[0])
              return (await db.query<SlaPolicy>(`SELECT ${POLICY_COLUMNS} FROM sla_policies WHERE tenant_id = $1 AND id = $2`, [who.tenantId, id])).rows[0]!;
            await db.query('INSERT INTO sla_policy_versions (tenant_id, policy_id, version, snapshot) VALUES ($1, $2, 1, $3)', [
              who.tenantId,
              id,
              JSON.stringify(rows[0]),
            ]);
            await audit(db, who, 'sla_policy.created', 'sla_policy', id, null, input, requestId);
            return rows[0];
          });
        } catch (err) {
          throw foreignKey(err);
        }
      },
      async get(tenantId: string, id: string): Promise<SlaPolicy | null> {
        return withTenant(
          pool,
          tenantId,
          async (db) =>
            (await db.query<SlaPolicy>(`SELECT ${POLICY_COLUMNS} FROM sla_policies WHERE tenant_id = $1 AND id = $2`, [tenantId, id])).rows[0] ?? null,
        );
      },
      /** In evaluation order: the first active policy whose conditions match applies. */
      async list(tenantId: string): Promise<SlaPolicy[]> {
        return withTenant(
          pool,
          tenantId,
          async (db) =>
            (await db.query<SlaPolicy>(`SELECT ${POLICY_COLUMNS} FROM sla_policies WHERE tenant_id = $1 ORDER BY position, created_at`, [tenantId])).rows,
        );
      },
      async version(tenantId: string, id: string, version: number): Promise<unknown | null> {
        return withTenant(
          pool,
          tenantId,
          async (db) =>
            (await db.query('SELECT snapshot FROM sla_policy_versions WHERE tenant_id = $1 AND policy_id = $2 AND version = $3', [tenantId, id, version]))
              .rows[0]?.snapshot ?? null,
        );
      },
      /** A new version, and the rollout its open tickets are owed, in one transaction. */
      async patch(
        who: Identity,
        id: string,
        patch: PatchSlaPolicyInput,
        taskQueue: string,
        expectedVersion?: number,
        requestId?: string,
      ): Promise<{ policy: SlaPolicy; rollout: Rollout }> {
        const columns: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(patch)) columns[k] = ['conditions', 'targets', 'escalation_rules'].includes(k) ? JSON.stringify(v) : v;
        try {
          return await inTenantTransaction(pool, who.tenantId, async (db) => {
            const before = (
              await db.query<SlaPolicy>(`SELECT ${POLICY_COLUMNS} FROM sla_policies WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, [who.tenantId, id])
            ).rows[0];
            if (!before) throw new DeskflowError('not_found', 'SLA policy not found');
            assertExpectedVersion(before, expectedVersion);
            await assertReferencesExist(db, who.tenantId, patch);
            const sets = Object.keys(columns).map((c, i) => `${c} = $${i + 3}`); // names from the strict schema
            const { rows } = await db.query<SlaPolicy>(
              `UPDATE sla_policies SET ${sets.join(', ')}, version = version + 1, updated_at = now() WHERE tenant_id = $1 AND id = $2 RETURNING ${POLICY_COLUMNS}`,
              [who.tenantId, id, ...Object.values(columns)],
            );
            const policy = rows[0]!;
            await db.query('INSERT INTO sla_policy_versions (tenant_id, policy_id, version, snapshot) VALUES ($1, $2, $3, $4)', [
              who.tenantId,
              id,
              policy.version,
              JSON.stringify(policy),
            ]);
            await audit(
              db,
              who,
              'sla_policy.updated',
              'sla_policy',
              id,
              Object.fromEntries(Object.keys(patch).map((k) => [k, before[k as keyof SlaPolicy]])),
              patch,
              requestId,
            );
            const rollout: Rollout = {
              workflow_id: `sla-rollout-policy-${id}-v${policy.version}`,
              tenant_id: who.tenantId,
              input: { tenant_id: who.tenantId, policy_ids: [id], reason: 'policy_updated' },
            };
            await enqueueRollout(db, taskQueue, rollout);
            return { policy, rollout };
          });
        } catch (err) {
          throw foreignKey(err);
        }
      },
    },
  };
}
export type SlaStore = ReturnType<typeof slaStore>;
