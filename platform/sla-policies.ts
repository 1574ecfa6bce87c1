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

/** Where a statement's placeholders for the match facts are (e.g. `$5`); tags is a text[]. */
export interface MatchPlaceholders {
  tenant: string;
  priority: string;
  channel: string;
  tags: string;
  customer: string;
}

/**
 * The first active policy (by position, then age) whose conditions hold for the facts, with its calendar, as JSON, or
 * null. Matching runs in PostgreSQL so that a create reads one policy, not all of its tenant's: with 200 policies, the
 * old read of every policy (and calendar) built and parsed ~100 KB per create and cost a quarter of the creation rate.
 * The rule is policyMatches's (domain/sla-policy.ts), which checks every pick (`matchedSnapshot`) and is tested
 * against this query: a condition that is not a list matches everything; otherwise the fact must be in the list
 * (tags: any of the ticket's; customer ids in any letter case, as z.uuid() accepts both).
 */
export const matchingPolicyJson = ($: MatchPlaceholders) => `(SELECT json_build_object('id', p.id, 'name', p.name, 'position', p.position,
  'conditions', p.conditions, 'targets', p.targets, 'calendar_id', p.calendar_id, 'pause_statuses', p.pause_statuses,
  'escalation_rules', p.escalation_rules, 'version', p.version,
  'calendar', (SELECT json_build_object('id', b.id, 'version', b.version, 'time_zone', b.time_zone, 'weekly', b.weekly, 'holidays', b.holidays)
               FROM business_hours b WHERE b.tenant_id = p.tenant_id AND b.id = p.calendar_id))
  FROM sla_policies p
  WHERE p.tenant_id = ${$.tenant} AND p.active
    AND (jsonb_typeof(p.conditions->'priority') IS DISTINCT FROM 'array' OR p.conditions->'priority' ? ${$.priority}::text)
    AND (jsonb_typeof(p.conditions->'channel') IS DISTINCT FROM 'array' OR p.conditions->'channel' ? ${$.channel}::text)
    AND (jsonb_typeof(p.conditions->'tags_any') IS DISTINCT FROM 'array' OR p.conditions->'tags_any' ?| ${$.tags}::text[])
    AND (jsonb_typeof(p.conditions->'customer_ids') IS DISTINCT FROM 'array'
         OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(p.conditions->'customer_ids') c WHERE lower(c) = lower(${$.customer}::text)))
  ORDER BY p.position, p.created_at LIMIT 1)`;

export type ActivePolicy = SlaPolicy & { calendar: PolicySnapshot['calendar'] | null };

/** The matched policy as a snapshot with its calendar (24/7 UTC when it has none); null when none matched. */
export function matchedSnapshot(policy: ActivePolicy | null, facts: MatchFacts): PolicySnapshot | null {
  if (!policy) return null;
  // The query and the domain's rule must agree: a pick the rule refuses is a bug, never a ticket's SLA.
  if (!policyMatches(policy.conditions, facts)) throw new Error(`SLA policy ${policy.id} was matched by the query but not by policyMatches`);
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

const RESOLVE = `SELECT ${matchingPolicyJson({ tenant: '$1', priority: '$2', channel: '$3', tags: '$4', customer: '$5' })} AS policy`;

/** Runs on a tenant-scoped connection (withTenant), so row-level security applies too. One round trip. */
export async function resolveSlaPolicy(db: Db, tenantId: string, facts: MatchFacts): Promise<PolicySnapshot | null> {
  const { rows } = await db.query<{ policy: ActivePolicy | null }>(RESOLVE, [tenantId, facts.priority, facts.channel, facts.tags, facts.customer_id]);
  return matchedSnapshot(rows[0]!.policy, facts);
}
