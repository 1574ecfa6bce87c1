/**
 * Baseline (worker): the floor cost of one timer task. The workflow waits on one timer, then runs one local
 * activity doing one INSERT — what an SLA timer task of a ticket does, without the ticket — and arms its next timer.
 */
import { proxyLocalActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { TimerActivities } from './timer-contract';

const { recordTimerFired } = proxyLocalActivities<TimerActivities>({ startToCloseTimeout: '15s' });

export async function timerWorkflow(dueAt: number): Promise<void> {
  await sleep(Math.max(1, dueAt - Date.now()));
  await recordTimerFired({ workflow_id: workflowInfo().workflowId, due_at: dueAt, fired_at: Date.now() });
  // A ticket's SLA task arms the ticket's next deadline and the run stays open (and cached). A run that completed here
  // would also pay its completion and its eviction from the cache, which no SLA task of a ticket pays.
  await sleep('1 day');
}
