/**
 * A policy or calendar edit reaches every open ticket under it: find them by search attribute and
 * signal each to re-match and move its deadlines. A workflow, so an API crash mid-rollout loses nothing.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { RolloutActivities } from '../activities/sla-rollout';

export const SLA_ROLLOUT_WORKFLOW_TYPE = 'slaRolloutWorkflow';

export interface SlaRolloutInput {
  tenant_id: string;
  policy_ids: string[];
  reason: 'policy_updated' | 'calendar_updated';
}

const { signalOpenTicketsUnderPolicies } = proxyActivities<RolloutActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

export async function slaRolloutWorkflow(input: SlaRolloutInput): Promise<number> {
  if (input.policy_ids.length === 0) return 0;
  return signalOpenTicketsUnderPolicies(input);
}
