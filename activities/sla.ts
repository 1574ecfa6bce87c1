/** SLA side effects: looking up a ticket's policy when what it matches on changes, or a policy changed. */
import type pg from 'pg';
import type { MatchFacts, PolicySnapshot } from '../domain/sla-policy';
import { resolveSlaPolicy } from '../platform/sla-policies';
import { withTenant } from '../platform/tenant-db';

export interface SlaActivities {
  resolveSlaPolicy(input: { tenant_id: string; facts: MatchFacts }): Promise<PolicySnapshot | null>;
}

export function createSlaActivities(pool: pg.Pool): SlaActivities {
  return {
    resolveSlaPolicy: ({ tenant_id, facts }) => withTenant(pool, tenant_id, (db) => resolveSlaPolicy(db, tenant_id, facts)),
  };
}
