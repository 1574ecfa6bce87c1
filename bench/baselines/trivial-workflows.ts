/**
 * Baseline (b): the workflow bundle of the trivial worker. One workflow type whose update handler
 * returns immediately; the workflow then completes in the same workflow task. This is the floor cost
 * of one Temporal update-with-start round trip on this machine.
 */
import { condition, setHandler } from '@temporalio/workflow';
import { pingUpdate } from './trivial-contract';

export async function trivialWorkflow(): Promise<void> {
  let pinged = false;
  setHandler(pingUpdate, () => {
    pinged = true;
    return 'pong';
  });
  await condition(() => pinged);
}
