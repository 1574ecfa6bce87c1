/**
 * Baseline (b): the workflow bundle of the trivial worker. One workflow type whose `ping` update handler returns
 * immediately; the workflow then completes in the same workflow task. This is the floor cost of one Temporal
 * update-with-start round trip on this machine. Its `recordedPing` handler first runs one local activity doing one
 * INSERT: the floor of a write that is persisted before it answers.
 */
import { condition, proxyLocalActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import { pingUpdate, recordedPingUpdate, type TrivialActivities } from './trivial-contract';

// The ticket workflow's local-activity options (workflows/ticket.workflow.ts).
const { recordPing } = proxyLocalActivities<TrivialActivities>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '10s' },
});

export async function trivialWorkflow(): Promise<void> {
  let pinged = false;
  setHandler(pingUpdate, () => {
    pinged = true;
    return 'pong';
  });
  setHandler(recordedPingUpdate, async () => {
    await recordPing(workflowInfo().workflowId);
    pinged = true;
    return 'pong';
  });
  await condition(() => pinged);
}
