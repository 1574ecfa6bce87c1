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

/** A tenant's active policies in matching order, each with its calendar, as one JSON array ($1: the tenant). */
export const ACTIVE_POLICIES_JSON = `coalesce((SELECT json_agg(json_build_object('id', p.id, 'name', p.name, 'position', p.position,
  'conditions', p.conditions, 'targets', p.targets, 'calendar_id', p.calendar_id, 'pause_statuses', p.pause_statuses,
  'escalation_rules', p.escalation_rules, 'version', p.version,
  'calendar', (SELECT json_build_object('id', b.id, 'version', b.version, 'time_zone', b.time_zone, 'weekly', b.weekly, 'holidays', b.holidays)
               FROM business_hours b WHERE b.tenant_id = p.tenant_id AND b.id = p.calendar_id))
  ORDER BY p.position, p.created_at) FROM sla_policies p WHERE p.tenant_id = $1 AND p.active), '[]')`;

export type ActivePolicy = SlaPolicy & { calendar: PolicySnapshot['calendar'] | null };

/** The first policy (in order) whose conditions match, as a snapshot with its calendar (24/7 UTC when it has none). */
export function pickSlaPolicy(policies: ActivePolicy[], facts: MatchFacts): PolicySnapshot | null {
  const policy = policies.find((p) => policyMatches(p.conditions, facts));
  if (!policy) return null;
  return {
    id: policy.id,
    version: policy.version,
    name: policy.name,
    targets: policy.targets,
    pause_statuses: policy.pause_statuses,
    escalation_rules: policy.escalation_rules,
    calendar: policy.calendar ?? UTC_24_7,
  };
}

/** Runs on a tenant-scoped connection (withTenant), so row-level security applies too. One round trip. */
export async function resolveSlaPolicy(db: Db, tenantId: string, facts: MatchFacts): Promise<PolicySnapshot | null> {
  const { rows } = await db.query<{ policies: ActivePolicy[] }>(`SELECT ${ACTIVE_POLICIES_JSON} AS policies`, [tenantId]);
  return pickSlaPolicy(rows[0]!.policies, facts);
}
