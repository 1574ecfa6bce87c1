/**
 * The ticket workflow's contract: its name and input, its updates, signal and query, and the
 * activities it calls. Imported by the workflow, by its callers (API, rollout activity, tests) and
 * by the activities that implement it, so no side imports another's code.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { ticketWorkflowId } from '../domain/ids';
import { TicketSearchAttributes as SA } from '../domain/search-attributes';
import type { MatchFacts, PolicySnapshot } from '../domain/sla-policy';
import type { OpenTicketCommand, TicketChange } from '../domain/ticket-state-machine';
import type { AttachmentSummary } from '../domain/attachment';
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
  /**
   * Set by `ticketStartOptions` when the start's search attributes name the API's policy, so opening the ticket
   * upserts nothing. In the input (so in history) because runs started without it upsert SlaPolicyId when they
   * open, and their replays must keep doing so.
   */
  policy_attribute_set?: true;
}

/**
 * How a ticket's workflow is started (with the update that answers once it is persisted): one definition for
 * the API and the webhook circuit breaker's incident tickets. A repeated start with the same ticket id joins
 * the running workflow; one whose ticket has closed is refused (WorkflowExecutionAlreadyStartedError).
 */
export const ticketStartOptions = (taskQueue: string, args: TicketWorkflowInput) => ({
  workflowId: ticketWorkflowId(args.open.ticket_id),
  taskQueue,
  args: [args.open.sla_policy ? { ...args, policy_attribute_set: true } : args] as [TicketWorkflowInput],
  workflowIdConflictPolicy: 'USE_EXISTING' as const,
  workflowIdReusePolicy: 'REJECT_DUPLICATE' as const,
  typedSearchAttributes: [
    { key: SA.tenant, value: args.open.tenant_id },
    { key: SA.status, value: 'new' },
    { key: SA.priority, value: args.open.input.priority },
    ...(args.open.input.assignee_id ? [{ key: SA.assignee, value: args.open.input.assignee_id }] : []),
    // The policy the API matched: the workflow then has nothing to upsert when it opens the ticket.
    ...(args.open.sla_policy ? [{ key: SA.slaPolicy, value: args.open.sla_policy.id }] : []),
  ],
});

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
  /**
   * Files the API already stored (object storage, rows `stored`): metadata only, never bytes. The projection links
   * the rows to the message in the statement that writes it. Absent in requests of earlier releases.
   */
  attachments?: AttachmentSummary[];
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

// ---- the activities the workflow calls (implemented in activities/projection.ts and activities/sla.ts)

/** What a projection write reports back to the workflow. */
export interface Projected {
  /** Worker wall clock (epoch ms) once the change was committed: later than the workflow task's clock. */
  committed_at: number;
  /** The current versions of the ticket's SLA policy and its calendar (0: 24/7), so a stale ticket re-matches. */
  sla_config?: { policy_version: number; calendar_version: number } | null;
}

export interface ProjectionActivities {
  projectTicketChange(change: TicketChange): Promise<Projected>;
}

export interface SlaActivities {
  resolveSlaPolicy(input: { tenant_id: string; facts: MatchFacts }): Promise<PolicySnapshot | null>;
}
