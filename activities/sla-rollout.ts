/** Finds the open ticket workflows under some SLA policies (visibility query) and signals each one. */
import { heartbeat } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import { slaConfigChangedSignal } from '../workflows/ticket-contract';
import type { SlaRolloutInput } from '../workflows/sla-rollout.workflow';

export interface RolloutActivities {
  signalOpenTicketsUnderPolicies(input: SlaRolloutInput): Promise<number>;
}

const Ids = z.array(z.uuid());

export function createRolloutActivities(client: Client): RolloutActivities {
  return {
    async signalOpenTicketsUnderPolicies({ tenant_id, policy_ids, reason }) {
      // Ids are validated uuids, so they are safe inside the visibility query.
      const tenant = z.uuid().parse(tenant_id);
      const ids = Ids.parse(policy_ids).map((id) => `'${id}'`).join(', ');
      const query = `TenantId = '${tenant}' AND SlaPolicyId IN (${ids}) AND ExecutionStatus = 'Running'`;
      let signalled = 0;
      // Signals are idempotent in effect (a re-match of an unchanged policy changes nothing): retries are safe.
      for await (const execution of client.workflow.list({ query })) {
        await client.workflow.getHandle(execution.workflowId).signal(slaConfigChangedSignal, { reason }).catch((err: Error) => {
          if (!/not found|already completed/i.test(err.message)) throw err;
        });
        signalled++;
        if (signalled % 100 === 0) heartbeat(signalled);
      }
      return signalled;
    },
  };
}
