/**
 * The API's only way to change a ticket: update-with-start to open it, Workflow Updates to change it.
 * Each call returns after the workflow has persisted the change (read-your-writes).
 */
import {
  type Client,
  isGrpcServiceError,
  ServiceError,
  WithStartWorkflowOperation,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { DeskflowError, isErrorCode } from '../domain/errors';
import { ticketWorkflowId } from '../domain/ids';
import type { AttachmentSummary } from '../domain/attachment';
import type { PolicySnapshot } from '../domain/sla-policy';
import type { AddMessageInput, CreateTicketInput, Message, PatchTicketInput, Ticket } from '../domain/ticket';
import {
  acknowledgeSlaUpdate,
  addMessageUpdate,
  patchTicketUpdate,
  TICKET_WORKFLOW_TYPE,
  ticketOpenedUpdate,
  type TicketSettings,
  type TicketWorkflowInput,
  ticketStartOptions,
} from '../workflows/ticket-contract';
import type { Identity } from '../domain/identity';
import type { ticketWorkflow } from '../workflows/ticket.workflow';

export interface TicketWorkflows {
  /**
   * `email`: the Message-ID of the email that opened the ticket, and the id its message gets; `attachments`: its files,
   * already stored (no rows yet: the projection inserts them, linked, with the ticket).
   */
  open(
    who: Identity,
    ticketId: string,
    input: CreateTicketInput,
    opts?: { email?: { messageId: string; firstMessageId: string }; slaPolicy?: PolicySnapshot | null; attachments?: AttachmentSummary[] },
  ): Promise<Ticket>;
  patch(who: Identity, ticketId: string, patch: PatchTicketInput, expectedVersion?: number): Promise<Ticket>;
  addMessage(
    who: Identity,
    ticketId: string,
    messageId: string,
    message: AddMessageInput,
    emailMessageId?: string,
    /** Already stored (rows `stored`, or none yet): the projection links them to the message (inserting missing rows). */
    attachments?: AttachmentSummary[],
  ): Promise<{ ticket: Ticket; message: Message }>;
  acknowledgeSla(who: Identity, ticketId: string): Promise<Ticket>;
}

export function ticketWorkflows(
  client: Client,
  taskQueue: string,
  settings: TicketSettings,
  /** Resolves the error of a call on a ticket whose workflow is gone (closed, or never existed). */
  whenNoWorkflow: (who: Identity, ticketId: string) => Promise<never>,
  /** The longest a write waits for its workflow to confirm it (no worker, a stuck server): then 503, never a hung request. */
  writeTimeoutMs: number,
): TicketWorkflows {
  const handleOf = (ticketId: string) => client.workflow.getHandle(ticketWorkflowId(ticketId));
  /** The change may still apply after the deadline (it is queued on the workflow): a retry with the same Idempotency-Key joins it. */
  const bounded = async <T>(fn: () => Promise<T>): Promise<T> => {
    const deadline = Date.now() + writeTimeoutMs;
    try {
      return await client.withDeadline(deadline, fn);
    } catch (err) {
      if (Date.now() >= deadline && (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError || err instanceof ServiceError || isGrpcServiceError(err))) {
        throw new DeskflowError(
          'service_unavailable',
          `the ticket's workflow did not confirm the change within ${writeTimeoutMs / 1000} s; it may still apply: retry with the same Idempotency-Key`,
          { retry_after: 1 },
        );
      }
      throw err;
    }
  };

  async function call<T>(who: Identity, ticketId: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await bounded(fn);
    } catch (err) {
      if (err instanceof DeskflowError) throw err;
      if (isWorkflowGone(err)) return whenNoWorkflow(who, ticketId);
      throw translate(err);
    }
  }

  return {
    async open(who, ticketId, input, { email, slaPolicy, attachments } = {}) {
      const args: TicketWorkflowInput = {
        open: {
          tenant_id: who.tenantId,
          ticket_id: ticketId,
          input,
          actor: who.actor,
          ...(email ? { external_id: email.messageId, first_message_id: email.firstMessageId } : {}),
          ...(slaPolicy !== undefined ? { sla_policy: slaPolicy } : {}),
          // Left out when there are none, so a plain ticket's start reads exactly as before.
          ...(attachments?.length ? { attachments } : {}),
        },
        settings,
      };
      // A retried create (same Idempotency-Key → same ticket id) joins the running workflow.
      const start = new WithStartWorkflowOperation<typeof ticketWorkflow>(TICKET_WORKFLOW_TYPE, ticketStartOptions(taskQueue, args));
      try {
        return await bounded(() =>
          client.workflow.executeUpdateWithStart(ticketOpenedUpdate, {
            args: [{ tenant_id: who.tenantId }],
            startWorkflowOperation: start,
          }),
        );
      } catch (err) {
        if (err instanceof DeskflowError) throw err;
        if (err instanceof WorkflowExecutionAlreadyStartedError) {
          throw new DeskflowError('conflict', 'this ticket was already created and has since closed');
        }
        throw translate(err);
      }
    },

    patch(who, ticketId, patch, expectedVersion) {
      return call(who, ticketId, () =>
        handleOf(ticketId).executeUpdate(patchTicketUpdate, {
          args: [{ tenant_id: who.tenantId, actor: who.actor, patch, expected_version: expectedVersion }],
        }),
      );
    },

    addMessage(who, ticketId, messageId, message, emailMessageId, attachments) {
      return call(who, ticketId, () =>
        handleOf(ticketId).executeUpdate(addMessageUpdate, {
          // The update id makes a retried request (same Idempotency-Key) the same update.
          updateId: `message-${messageId}`,
          args: [
            {
              tenant_id: who.tenantId,
              actor: who.actor,
              message,
              message_id: messageId,
              external_id: emailMessageId ?? null,
              // Left out when there are none, so a plain message's update reads exactly as before.
              ...(attachments?.length ? { attachments } : {}),
            },
          ],
        }),
      );
    },

    acknowledgeSla(who, ticketId) {
      return call(who, ticketId, () => handleOf(ticketId).executeUpdate(acknowledgeSlaUpdate, { args: [{ tenant_id: who.tenantId, actor: who.actor }] }));
    },
  };
}

const GRPC_NOT_FOUND = 5;

/** The ticket's workflow does not run (never started, or completed): gRPC NOT_FOUND however the SDK wraps it. */
function isWorkflowGone(err: unknown): boolean {
  if (err instanceof WorkflowNotFoundError) return true;
  const grpc = err instanceof ServiceError ? err.cause : err;
  return isGrpcServiceError(grpc) && grpc.code === GRPC_NOT_FOUND;
}

/**
 * A rejected update carries our error code as the ApplicationFailure type; Temporal being
 * unreachable, slow or overloaded is a 503 whatever shape the SDK gives it.
 */
export function translate(err: unknown): unknown {
  if (err instanceof WorkflowUpdateFailedError) {
    const cause = err.cause;
    if (cause instanceof ApplicationFailure && isErrorCode(cause.type)) {
      return new DeskflowError(cause.type, cause.message, (cause.details?.[0] as Record<string, unknown>) ?? {});
    }
    return new DeskflowError('change_failed', 'the change could not be applied; the ticket is unchanged');
  }
  if (err instanceof ServiceError || err instanceof WorkflowUpdateRPCTimeoutOrCancelledError || isGrpcServiceError(err)) {
    return new DeskflowError('service_unavailable', 'the workflow service is unavailable');
  }
  return err;
}
