/**
 * The SLA rollout workflow's contract: its name, input and how it is started, and the activity it
 * calls. Imported by the workflow, its activity and its starters (API, outbox relay), so none of
 * them imports another's code.
 */
export const SLA_ROLLOUT_WORKFLOW_TYPE = 'slaRolloutWorkflow';

import type { SlaRolloutInput } from '../domain/sla-policy';

export type { SlaRolloutInput };

/**
 * How every caller (the API's fast path, the outbox relay) starts a rollout: one run per change, named
 * by the change; a start while it runs joins it, a start after it finished is refused (already done).
 */
export const rolloutStartOptions = (taskQueue: string, workflowId: string, input: SlaRolloutInput) => ({
  taskQueue,
  workflowId,
  args: [input] as [SlaRolloutInput],
  workflowIdConflictPolicy: 'USE_EXISTING' as const,
  workflowIdReusePolicy: 'REJECT_DUPLICATE' as const,
});

/** What the workflow asks of its activities (implemented in activities/sla-rollout.ts). */
export interface RolloutActivities {
  /** `stale_only`: just the tickets whose projected policy or calendar version is older than the current one. */
  signalOpenTicketsUnderPolicies(input: SlaRolloutInput & { stale_only?: boolean }): Promise<number>;
}
