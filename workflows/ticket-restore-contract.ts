/**
 * The restore workflow's contract: an admin's `POST /api/v1/tickets/:id/restore` puts an archived ticket back into the
 * hot tables. A workflow (`ticket-restore-<id>`), so a restore that has copied some files when its worker dies is
 * finished by another, and a second request while it runs joins it.
 */
import type { Actor } from '../domain/ticket';

export const TICKET_RESTORE_WORKFLOW_TYPE = 'ticketRestoreWorkflow';

export interface TicketRestoreInput {
  tenant_id: string;
  ticket_id: string;
  /** Who asked (the audit entry and the `ticket.restored` event name them). */
  actor: Actor;
  request_id?: string | null;
}

export interface TicketRestoreResult {
  outcome: 'restored' | 'already_restored' | 'not_archived';
}

/** A run per request while one runs (a second joins it); a later request starts a new one (archived again since). */
export const ticketRestoreStartOptions = (taskQueue: string, input: TicketRestoreInput) => ({
  taskQueue,
  workflowId: `ticket-restore-${input.ticket_id}`,
  args: [input] as [TicketRestoreInput],
  workflowIdConflictPolicy: 'USE_EXISTING' as const,
  workflowIdReusePolicy: 'ALLOW_DUPLICATE' as const,
});

export interface TicketRestoreActivities {
  restoreArchivedTicket(input: TicketRestoreInput): Promise<TicketRestoreResult>;
}
