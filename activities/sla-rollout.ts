/**
 * Finds the open tickets under some SLA policies in the projection and signals each one's workflow.
 * The projection is read-your-writes: a ticket whose creation was answered is there, which the
 * (eventually consistent) visibility store does not promise.
 */
import { activityInfo, heartbeat } from '@temporalio/activity';
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import type pg from 'pg';
import { z } from 'zod';
import { ticketWorkflowId } from '../domain/ids';
import { withTenant } from '../platform/tenant-db';
import type { RolloutActivities } from '../workflows/sla-rollout-contract';
import { slaConfigChangedSignal } from '../workflows/ticket-contract';

const Input = z.object({ tenant_id: z.uuid(), policy_ids: z.array(z.uuid()), stale_only: z.boolean().optional() });
const PAGE = 500;

const OPEN_UNDER_POLICIES = `
SELECT t.id FROM tickets t
WHERE t.tenant_id = $1 AND t.sla_policy_id = ANY($2::uuid[]) AND t.status <> 'closed' AND t.id > $3::uuid
ORDER BY t.id LIMIT $4`;

const STALE_UNDER_POLICIES = `
SELECT t.id FROM tickets t
JOIN sla_policies p ON p.tenant_id = t.tenant_id AND p.id = t.sla_policy_id
LEFT JOIN business_hours b ON b.tenant_id = p.tenant_id AND b.id = p.calendar_id
WHERE t.tenant_id = $1 AND t.sla_policy_id = ANY($2::uuid[]) AND t.status <> 'closed' AND t.id > $3::uuid
  AND ((t.sla->>'policy_version')::int < p.version OR (t.sla->>'calendar_version')::int < coalesce(b.version, 0))
ORDER BY t.id LIMIT $4`;

export function createRolloutActivities(client: Client, pool: pg.Pool): RolloutActivities {
  return {
    async signalOpenTicketsUnderPolicies(raw) {
      const { tenant_id, policy_ids, stale_only } = Input.parse(raw);
      const { reason } = raw;
      // A retry (the worker died) resumes after the last ticket the previous attempt signalled.
      let after = (activityInfo().heartbeatDetails as string | undefined) ?? '00000000-0000-0000-0000-000000000000';
      let signalled = 0;
      for (;;) {
        const { rows } = await withTenant(pool, tenant_id, (db) =>
          db.query<{ id: string }>(stale_only ? STALE_UNDER_POLICIES : OPEN_UNDER_POLICIES, [tenant_id, policy_ids, after, PAGE]),
        );
        for (const { id } of rows) {
          // A re-match of an unchanged policy changes nothing: a signal repeated by a retry is harmless.
          try {
            await client.workflow.getHandle(ticketWorkflowId(id)).signal(slaConfigChangedSignal, { reason });
            signalled++;
          } catch (err) {
            // Closed since the read (or gone): nothing left to move.
            if (!(err instanceof WorkflowNotFoundError)) throw err;
          }
          after = id;
          heartbeat(after);
        }
        if (rows.length < PAGE) return signalled;
      }
    },
  };
}
