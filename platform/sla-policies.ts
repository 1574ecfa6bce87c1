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

/** The columns a policy is matched and snapshotted from (one list for both look-ups). */
export const POLICY_COLUMNS = 'id, name, position, conditions, targets, calendar_id, pause_statuses, escalation_rules, version';
const CALENDAR_COLUMNS = 'id, version, time_zone, weekly, holidays';
/** A tenant's active policies in matching order, as a JSON array (to ride along in another statement). */
export const ACTIVE_POLICIES_JSON = `coalesce((SELECT json_agg(json_build_object('id', p.id, 'name', p.name, 'position', p.position,
  'conditions', p.conditions, 'targets', p.targets, 'calendar_id', p.calendar_id, 'pause_statuses', p.pause_statuses,
  'escalation_rules', p.escalation_rules, 'version', p.version,
  'calendar', (SELECT json_build_object('id', b.id, 'version', b.version, 'time_zone', b.time_zone, 'weekly', b.weekly, 'holidays', b.holidays)
               FROM business_hours b WHERE b.tenant_id = p.tenant_id AND b.id = p.calendar_id))
  ORDER BY p.position, p.created_at) FROM sla_policies p WHERE p.tenant_id = $1 AND p.active), '[]')`;

type Calendar = PolicySnapshot['calendar'];

/** The first policy (in order) whose conditions match, as a snapshot with its calendar (24/7 UTC when it has none). */
export function pickSlaPolicy(policies: (SlaPolicy & { calendar?: Calendar | null })[], facts: MatchFacts): PolicySnapshot | null {
  const policy = policies.find((p) => policyMatches(p.conditions, facts));
  return policy ? snapshotOf(policy, policy.calendar ?? UTC_24_7) : null;
}

function snapshotOf(policy: SlaPolicy, calendar: Calendar): PolicySnapshot {
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

/** Runs on a tenant-scoped connection (withTenant), so row-level security applies too. */
export async function resolveSlaPolicy(db: Db, tenantId: string, facts: MatchFacts): Promise<PolicySnapshot | null> {
  const { rows } = await db.query<SlaPolicy>(`SELECT ${POLICY_COLUMNS} FROM sla_policies WHERE tenant_id = $1 AND active ORDER BY position, created_at`, [
    tenantId,
  ]);
  const policy = rows.find((p) => policyMatches(p.conditions, facts));
  if (!policy) return null;
  let calendar = UTC_24_7;
  if (policy.calendar_id) {
    const cal = await db.query(`SELECT ${CALENDAR_COLUMNS} FROM business_hours WHERE tenant_id = $1 AND id = $2`, [tenantId, policy.calendar_id]);
    if (cal.rows[0]) calendar = cal.rows[0];
  }
  return snapshotOf(policy, calendar);
}
