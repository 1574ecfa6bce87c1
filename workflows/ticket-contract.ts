/**
 * The ticket workflow's public contract: its input, updates and query. Imported by the workflow
 * and by its callers (API, tests), so both sides share one definition.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { PolicySnapshot } from '../domain/sla-policy';
import type { OpenTicketCommand } from '../domain/ticket-state-machine';
import type { Actor, AddMessageInput, Message, PatchTicketInput, Ticket } from '../domain/ticket';

export const TICKET_WORKFLOW_TYPE = 'ticketWorkflow';

export interface TicketSettings {
  /** How long a solved ticket stays solved before it closes by itself. */
  autoCloseAfterMs: number;
  /** Continue-as-new once history reaches this many events (or when the server suggests it). */
  historyEventLimit: number;
}

export interface TicketWorkflowInput {
  open: OpenTicketCommand;
  settings: TicketSettings;
  /** Set only by continue-as-new: the live state carried into the next run. */
  carried?: { ticket: Ticket; policy: PolicySnapshot | null };
}

export interface PatchTicketRequest {
  tenant_id: string;
  actor: Actor;
  patch: PatchTicketInput;
  /** From `If-Match`; omitted means "whatever the current version is". */
  expected_version?: number;
}

export interface AddMessageRequest {
  tenant_id: string;
  actor: Actor;
  message: AddMessageInput;
  /** The new message's id, chosen by the caller so a retried request names the same message. */
  message_id: string;
  /** Email Message-ID when the message arrived by email. */
  external_id?: string | null;
}

/** Completes once the ticket is persisted: the answer to the create call of update-with-start. */
export const ticketOpenedUpdate = defineUpdate<Ticket, [{ tenant_id: string }]>('ticketOpened');
export const patchTicketUpdate = defineUpdate<Ticket, [PatchTicketRequest]>('patchTicket');
export const addMessageUpdate = defineUpdate<{ ticket: Ticket; message: Message }, [AddMessageRequest]>('addMessage');
export const getTicketQuery = defineQuery<Ticket | null>('getTicket');

export interface AcknowledgeSlaRequest {
  tenant_id: string;
  actor: Actor;
}
/** Stops the escalation ladder for the current SLA cycle. */
export const acknowledgeSlaUpdate = defineUpdate<Ticket, [AcknowledgeSlaRequest]>('acknowledgeSla');
/** An SLA policy or its calendar changed: re-match and move the deadlines. */
export const slaConfigChangedSignal = defineSignal<[{ reason: 'policy_updated' | 'calendar_updated' }]>('slaConfigChanged');
