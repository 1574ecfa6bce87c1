/** Picks a ticket's SLA policy: the first active one (by position) whose conditions match, with its calendar. */
import { type MatchFacts, policyMatches, type PolicySnapshot, type SlaPolicy } from '../domain/sla-policy';
import type { Db } from './tenant-db';

const UTC_24_7: PolicySnapshot['calendar'] = {
  id: null,
  version: 0,
  time_zone: 'UTC',
  weekly: [0, 1, 2, 3, 4, 5, 6].map((day) => ({ day, start: '00:00', end: '24:00' })),
  holidays: [],
};

/** Runs on a tenant-scoped connection (withTenant), so row-level security applies too. */
export async function resolveSlaPolicy(db: Db, tenantId: string, facts: MatchFacts): Promise<PolicySnapshot | null> {
  const { rows } = await db.query<SlaPolicy>(
    `SELECT id, name, position, conditions, targets, calendar_id, pause_statuses, escalation_rules, version
     FROM sla_policies WHERE tenant_id = $1 AND active ORDER BY position, created_at`,
    [tenantId],
  );
  const policy = rows.find((p) => policyMatches(p.conditions, facts));
  if (!policy) return null;
  let calendar = UTC_24_7;
  if (policy.calendar_id) {
    const cal = await db.query('SELECT id, version, time_zone, weekly, holidays FROM business_hours WHERE tenant_id = $1 AND id = $2', [
      tenantId,
      policy.calendar_id,
    ]);
    if (cal.rows[0]) calendar = cal.rows[0];
  }
  return {
    id: policy.id,
    version: policy.version,
    name: policy.name,
    targets: policy.targets,
    pause_statuses: policy.pause_statuses,
    escalation_rules: policy.escalation_rules,
    calendar,
  };
}
