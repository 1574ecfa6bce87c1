/**
 * A policy or calendar edit reaches every open ticket under it: read them from the projection
 * (read-your-writes, unlike visibility) and signal each to re-match and move its deadlines. A
 * workflow, started from the change's outbox row, so no crash between the edit and here loses it.
 */
import { patched, proxyActivities, sleep } from '@temporalio/workflow';
import type { RolloutActivities, SlaRolloutInput } from './sla-rollout-contract';

/**
 * A ticket whose projection write was in flight while the change committed can be missing from the
 * first pass yet have read the old version. It notices the new version at its next commit anyway;
 * the second pass, once any such write has long finished, signals the tickets still on an older one.
 */
export const SETTLE_PASS_DELAY = '15s';

const { signalOpenTicketsUnderPolicies } = proxyActivities<RolloutActivities>({
  startToCloseTimeout: '10 minutes',
  // A worker that dies mid-pass is noticed within this; the retry resumes after the last ticket signalled.
  heartbeatTimeout: '10s',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

export async function slaRolloutWorkflow(input: SlaRolloutInput): Promise<number> {
  if (input.policy_ids.length === 0) return 0;
  let signalled = await signalOpenTicketsUnderPolicies(input);
  if (patched('sla-rollout-settle-pass')) {
    await sleep(SETTLE_PASS_DELAY, { summary: 'settle pass: tickets still on an older policy or calendar version' });
    signalled += await signalOpenTicketsUnderPolicies({ ...input, stale_only: true });
  }
  return signalled;
}
