/**
 * Baseline (b): the workflow bundle of the trivial worker. One workflow type whose `ping` update handler returns
 * immediately; the workflow then stays open (waiting, as an open ticket does). This is the floor cost of one Temporal
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
  setHandler(pingUpdate, () => 'pong');
  setHandler(recordedPingUpdate, async () => {
    await recordPing(workflowInfo().workflowId);
    return 'pong';
  });
  // It stays open after answering, as a ticket's workflow does after it opens. A run that completes in its first task
  // is evicted from the cache at once, and with the worker's Workers sharded such runs waited 15-35 ms for their task at
  // 20/s where runs that stay open waited 1-2 ms (bench/RESULTS.md, 2026-12-05): a cost no ticket create pays.
  await condition(() => false);
}
