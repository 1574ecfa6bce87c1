/** SLA side effects: looking up a ticket's policy when what it matches on changes, or a policy changed. */
import type pg from 'pg';
import { resolveSlaPolicy } from '../platform/sla-policies';
import { withTenant } from '../platform/tenant-db';
import type { SlaActivities } from '../workflows/ticket-contract';

export function createSlaActivities(pool: pg.Pool): SlaActivities {
  return {
    resolveSlaPolicy: ({ tenant_id, facts }) => withTenant(pool, tenant_id, (db) => resolveSlaPolicy(db, tenant_id, facts)),
  };
}
