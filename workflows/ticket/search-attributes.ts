import { upsertSearchAttributes } from '@temporalio/workflow';
import { TicketSearchAttributes as SA } from '../../domain/search-attributes';
import type { Ticket } from '../../domain/ticket';

/** Keeps the ticket's search attributes current, recording an upsert only when one of them changed. */
export function searchAttributePublisher() {
  let published = '';
  return (ticket: Ticket, alreadySet = false): void => {
    const key = `${ticket.status}|${ticket.priority}|${ticket.assignee_id ?? ''}|${ticket.sla?.policy_id ?? ''}`;
    if (key === published) return;
    published = key;
    if (alreadySet) return;
    upsertSearchAttributes([
      { key: SA.status, value: ticket.status },
      { key: SA.priority, value: ticket.priority },
      { key: SA.assignee, value: ticket.assignee_id },
      { key: SA.slaPolicy, value: ticket.sla?.policy_id ?? null },
    ]);
  };
}
