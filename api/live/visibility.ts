/**
 * Who on a connection sees which live message: tenant scoping happens upstream (a connection hears only its
 * tenant's channel); here the audience, internal notes and the connection's queue filter or followed tickets.
 */
import type { Identity } from '../../domain/identity';
import type { QueueFilter } from '../../domain/live';
import type { LiveBusMessage, LiveRecord } from '../../platform/live-bus';

export interface Subscription {
  /** The queue filter (an empty object: the whole queue); null: the queue is off, followed tickets only. */
  queue: QueueFilter | null;
  tickets: Set<string>;
}

type TicketFacts = NonNullable<LiveRecord['ticket']>;

function inQueue(filter: QueueFilter, t: Pick<TicketFacts, 'status' | 'assignee_id' | 'group_id'>, userId: string | null): boolean {
  if (filter.status && !filter.status.includes(t.status as never)) return false;
  if (filter.assignee_id === 'me' && (userId === null || t.assignee_id !== userId)) return false;
  if (filter.assignee_id === 'none' && t.assignee_id !== null) return false;
  if (filter.assignee_id && filter.assignee_id !== 'me' && filter.assignee_id !== 'none' && t.assignee_id !== filter.assignee_id) return false;
  if (filter.group_id && t.group_id !== filter.group_id) return false;
  return true;
}

/** An escalation that notifies this user (as the assignee or by name) reaches them whatever their filter. */
function addressedTo(event: { type: string; data: Record<string, unknown> }, userId: string | null): boolean {
  if (userId === null || event.type !== 'sla.escalated') return false;
  const notify = (event.data.details as { notify?: { assignee_id?: string | null; user_ids?: string[] } | null } | undefined)?.notify;
  return Boolean(notify && (notify.assignee_id === userId || notify.user_ids?.includes(userId)));
}

/** Users see internal notes (they work the tickets); API keys never do; webhook notices need webhooks:manage. */
export function mayReceive(identity: Identity, sub: Subscription, message: LiveBusMessage): boolean {
  if (message.kind === 'agent_status') return true;
  if (message.kind === 'presence') return sub.queue !== null || sub.tickets.has(message.ticket_id);
  if (message.audience === 'admins') return identity.scopes.has('webhooks:manage');
  if (!identity.scopes.has('tickets:read')) return false;
  if (message.internal && identity.credential.kind !== 'user') return false;
  const ticket = message.ticket;
  if (!ticket) return false;
  const userId = identity.credential.kind === 'user' ? identity.credential.userId : null;
  if (sub.tickets.has(ticket.id) || addressedTo(message.event, userId)) return true;
  if (sub.queue === null) return false;
  // A ticket that just left the filter (closed, reassigned) is sent once more, so a queue view can drop it.
  return inQueue(sub.queue, ticket, userId) || (ticket.was !== null && inQueue(sub.queue, ticket.was, userId));
}
