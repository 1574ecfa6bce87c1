/**
 * One workflow per ticket (`ticket-<id>`): the single writer of the ticket's lifecycle state.
 * It opens the ticket, applies agents' changes and messages through the domain state machine,
 * closes a solved ticket after the auto-close delay, and projects every version to PostgreSQL.
 */
import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import { DeskflowError } from '../domain/errors';
import { TicketSearchAttributes as SA } from '../domain/search-attributes';
import type { Ticket } from '../domain/ticket';
import {
  addMessage,
  assertExpectedVersion,
  autoClose,
  autoCloseDueAt,
  type Decision,
  openTicket,
  patchTicket,
} from '../domain/ticket-state-machine';
import type { ProjectionActivities } from '../activities/projection';
import {
  addMessageUpdate,
  getTicketQuery,
  patchTicketUpdate,
  ticketOpenedUpdate,
  type TicketWorkflowInput,
} from './ticket-contract';
import { serialQueue } from './serial';

// Projection writes are short, idempotent SQL: local activities keep them inside the workflow task.
const { projectTicketChange } = proxyLocalActivities<ProjectionActivities>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '10s' },
});

export async function ticketWorkflow(input: TicketWorkflowInput): Promise<Ticket> {
  const { settings } = input;
  const tenantId = input.open.tenant_id;
  let ticket: Ticket | null = input.carried ?? null;
  const serially = serialQueue();
  const publishSearchAttributes = searchAttributePublisher();

  const current = (): Ticket => {
    if (ticket === null) throw new DeskflowError('not_found', 'ticket is not opened yet');
    return ticket;
  };
  const assertTenant = (requestTenant: string) => {
    if (requestTenant !== tenantId) throw new DeskflowError('not_found', 'ticket not found');
  };

  /** Persist a decision, then make it the live state. */
  const commit = async (decision: Decision, opts: { searchAttributesSet?: boolean } = {}): Promise<void> => {
    if (decision.event === null) return;
    await projectTicketChange({ ticket: decision.ticket, event: decision.event, message: decision.message });
    ticket = decision.ticket;
    publishSearchAttributes(ticket, opts.searchAttributesSet);
  };

  setHandler(getTicketQuery, () => ticket);

  setHandler(
    ticketOpenedUpdate,
    async () => {
      await condition(() => ticket !== null);
      return current();
    },
    { validator: ({ tenant_id }) => asFailure(() => assertTenant(tenant_id)) },
  );

  setHandler(
    patchTicketUpdate,
    (req) =>
      serially(() =>
        asFailureAsync(async () => {
          assertExpectedVersion(current(), req.expected_version);
          await commit(patchTicket(current(), req.patch, req.actor, now()));
          return current();
        }),
      ),
    {
      // Reject before anything is written (or even recorded in history).
      validator: (req) =>
        asFailure(() => {
          assertTenant(req.tenant_id);
          assertExpectedVersion(current(), req.expected_version);
          patchTicket(current(), req.patch, req.actor, now());
        }),
    },
  );

  setHandler(
    addMessageUpdate,
    (req) =>
      serially(() =>
        asFailureAsync(async () => {
          const decision = addMessage(current(), req.message, req.actor, req.message_id, now(), req.external_id ?? null);
          await commit(decision);
          return { ticket: current(), message: decision.message };
        }),
      ),
    {
      validator: (req) =>
        asFailure(() => {
          assertTenant(req.tenant_id);
          addMessage(current(), req.message, req.actor, 'validation', now());
        }),
    },
  );

  if (ticket === null) {
    // The starter set the opening search attributes already; nothing to upsert for the new ticket.
    await serially(() => commit(openTicket(input.open, input.open.first_message_id ?? uuid4(), now()), { searchAttributesSet: true }));
  }

  // The lifecycle: wait for changes; a solved ticket closes itself when its delay runs out.
  while (current().status !== 'closed') {
    if (historyIsLarge(settings.historyEventLimit)) {
      await condition(allHandlersFinished);
      return continueAsNew<typeof ticketWorkflow>({ ...input, carried: current() });
    }
    const seenVersion = current().version;
    const changed = () => current().version !== seenVersion || historyIsLarge(settings.historyEventLimit);
    const closeAt = autoCloseDueAt(current(), settings.autoCloseAfterMs);
    if (closeAt === null) {
      await condition(changed);
    } else if (!(await condition(changed, Math.max(closeAt - Date.now(), 1)))) {
      await serially(async () => {
        const dueAt = autoCloseDueAt(current(), settings.autoCloseAfterMs);
        if (dueAt !== null && dueAt <= Date.now()) await commit(autoClose(current(), now()));
      });
    }
  }

  await condition(allHandlersFinished);
  return current();
}

const now = () => new Date().toISOString();

function historyIsLarge(limit: number): boolean {
  const info = workflowInfo();
  return info.continueAsNewSuggested || info.historyLength >= limit;
}

/** Keeps the ticket's search attributes current, recording an upsert only when one of them changed. */
function searchAttributePublisher() {
  let published = '';
  return (ticket: Ticket, alreadySet = false): void => {
    const key = `${ticket.status}|${ticket.priority}|${ticket.assignee_id ?? ''}`;
    if (key === published) return;
    published = key;
    if (alreadySet) return;
    upsertSearchAttributes([
      { key: SA.status, value: ticket.status },
      { key: SA.priority, value: ticket.priority },
      { key: SA.assignee, value: ticket.assignee_id },
    ]);
  };
}

/** Domain errors become ApplicationFailures whose `type` is the stable error code. */
function toFailure(err: unknown): unknown {
  if (err instanceof DeskflowError) {
    return ApplicationFailure.create({ type: err.code, message: err.message, nonRetryable: true, details: [err.extra] });
  }
  return err;
}

function asFailure(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    throw toFailure(err);
  }
}

async function asFailureAsync<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toFailure(err);
  }
}
