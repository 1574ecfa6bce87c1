/**
 * Restores an archived ticket into the hot tables (see ticket-restore-contract.ts). One activity that heartbeats while
 * it copies the files back; a corrupt archive fails the run at once (non-retryable), anything else is retried.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { TicketRestoreActivities, TicketRestoreInput, TicketRestoreResult } from './ticket-restore-contract';

const { restoreArchivedTicket } = proxyActivities<TicketRestoreActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '15s',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 10 },
});

export async function ticketRestoreWorkflow(input: TicketRestoreInput): Promise<TicketRestoreResult> {
  return restoreArchivedTicket(input);
}
