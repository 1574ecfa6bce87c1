/**
 * The ticket state machine: the only place that decides how a ticket may change.
 * Pure functions: the caller supplies the clock (`now`) and new ids, so workflows stay deterministic.
 */
import { type AttachmentSummary, MAX_ATTACHMENTS_PER_MESSAGE } from './attachment';
import { DeskflowError } from './errors';
import type { Changes, TicketEvent, TicketEventType } from './events';
import type { PolicySnapshot } from './sla-policy';
import type { Actor, AddMessageInput, CreateTicketInput, Message, PatchTicketInput, Ticket, TicketStatus } from './ticket';

/** Transitions an agent (or integration) may request explicitly. `new` is only ever initial. */
export const MANUAL_TRANSITIONS: Readonly<Record<TicketStatus, readonly TicketStatus[]>> = {
  new: ['open', 'pending', 'on_hold', 'solved'],
  open: ['pending', 'on_hold', 'solved'],
  pending: ['open', 'on_hold', 'solved'],
  on_hold: ['open', 'pending', 'solved'],
  solved: ['open', 'closed'],
  closed: [], // terminal
};

/** Who acts when nobody does: SLA decisions, escalations, auto-close. */
export const SYSTEM_ACTOR: Actor = { type: 'system', id: null };

/** Statuses a customer's public reply moves back to `open`. */
const REOPENED_BY_CUSTOMER_REPLY: readonly TicketStatus[] = ['pending', 'solved'];

export function canTransition(from: TicketStatus, to: TicketStatus): boolean {
  return MANUAL_TRANSITIONS[from].includes(to);
}

/**
 * A change to a ticket: the next ticket, its events (one per version, oldest first; the last one
 * carries `ticket.version`; none when nothing changed) and the message it added, if any. What a
 * command produces, what the workflow commits and what the projection writes.
 */
export interface TicketChange {
  ticket: Ticket;
  events: TicketEvent[];
  message?: Message;
}

export interface OpenTicketCommand {
  tenant_id: string;
  ticket_id: string;
  input: CreateTicketInput;
  actor: Actor;
  /** Message-ID of the email that opened the ticket, for threading replies. */
  external_id?: string | null;
  /** Id of the opening message when the caller needs it stable (retries of one email). */
  first_message_id?: string;
  /** The SLA policy the starter already matched (null: none matches); absent: the workflow looks it up. */
  sla_policy?: PolicySnapshot | null;
  /** Files stored with the opening message (an email's attachments); absent: none. */
  attachments?: AttachmentSummary[];
}

export function openTicket(cmd: OpenTicketCommand, firstMessageId: string, now: string): TicketChange & { message: Message } {
  const { input } = cmd;
  const attachments = cmd.attachments ?? [];
  if (attachments.length > MAX_ATTACHMENTS_PER_MESSAGE) {
    throw new DeskflowError('rule_violation', `a message carries at most ${MAX_ATTACHMENTS_PER_MESSAGE} attachments`);
  }
  const ticket: Ticket = {
    id: cmd.ticket_id,
    tenant_id: cmd.tenant_id,
    subject: input.subject,
    description: input.description,
    status: 'new',
    priority: input.priority,
    channel: input.channel,
    customer_id: input.customer_id,
    assignee_id: input.assignee_id,
    group_id: input.group_id,
    tags: input.tags,
    version: 1,
    created_at: now,
    updated_at: now,
    first_agent_reply_at: null,
    solved_at: null,
    closed_at: null,
    sla: null,
  };
  // The description is the requester's opening message, as in every helpdesk.
  const message: Message = {
    id: firstMessageId,
    tenant_id: ticket.tenant_id,
    ticket_id: ticket.id,
    visibility: 'public',
    author_type: 'customer',
    author_id: ticket.customer_id,
    body: input.description,
    external_id: cmd.external_id ?? null,
    created_at: now,
    attachments,
  };
  return { ticket, message, events: [eventOf(ticket, 'ticket.created', cmd.actor, {}, { message_id: message.id }, now)] };
}

export function assertOpen(ticket: Ticket): void {
  if (ticket.status === 'closed') throw new DeskflowError('ticket_closed', `ticket ${ticket.id} is closed`);
}

export function patchTicket(ticket: Ticket, patch: PatchTicketInput, actor: Actor, now: string): TicketChange {
  assertOpen(ticket);
  let next: Ticket = { ...ticket };
  if (patch.status !== undefined && patch.status !== ticket.status) {
    if (!canTransition(ticket.status, patch.status)) {
      throw new DeskflowError('illegal_transition', `cannot move a ticket from ${ticket.status} to ${patch.status}`, {
        from: ticket.status,
        to: patch.status,
        allowed: MANUAL_TRANSITIONS[ticket.status],
      });
    }
    next = withStatus(next, patch.status, now);
  }
  if (patch.subject !== undefined) next.subject = patch.subject;
  if (patch.priority !== undefined) next.priority = patch.priority;
  if (patch.assignee_id !== undefined) next.assignee_id = patch.assignee_id;
  if (patch.group_id !== undefined) next.group_id = patch.group_id;
  if (patch.tags !== undefined) next.tags = patch.tags;

  const changes = diff(ticket, next);
  if (Object.keys(changes).length === 0) return { ticket, events: [] };
  next = bump(next, now);
  const type: TicketEventType = next.status === 'closed' ? 'ticket.closed' : 'ticket.updated';
  return { ticket: next, events: [eventOf(next, type, actor, changes, {}, now)] };
}

export function addMessage(
  ticket: Ticket,
  input: AddMessageInput,
  actor: Actor,
  messageId: string,
  now: string,
  externalId: string | null = null,
  attachments: AttachmentSummary[] = [],
): TicketChange & { message: Message } {
  assertOpen(ticket);
  if (attachments.length > MAX_ATTACHMENTS_PER_MESSAGE) {
    throw new DeskflowError('rule_violation', `a message carries at most ${MAX_ATTACHMENTS_PER_MESSAGE} attachments`);
  }
  let next: Ticket = { ...ticket };
  const isPublic = input.visibility === 'public';
  if (input.author_type === 'customer' && isPublic && REOPENED_BY_CUSTOMER_REPLY.includes(ticket.status)) {
    next = withStatus(next, 'open', now);
  }
  if (input.author_type === 'agent' && isPublic) {
    if (ticket.status === 'new') next = withStatus(next, 'open', now);
    if (ticket.first_agent_reply_at === null) next.first_agent_reply_at = now;
  }
  const message: Message = {
    id: messageId,
    tenant_id: ticket.tenant_id,
    ticket_id: ticket.id,
    visibility: input.visibility,
    author_type: input.author_type,
    author_id: input.author_type === 'customer' ? ticket.customer_id : actor.id,
    body: input.body,
    external_id: externalId,
    created_at: now,
    attachments,
  };
  const changes = diff(ticket, next);
  next = bump(next, now);
  const data = { message_id: message.id, visibility: message.visibility, author_type: message.author_type };
  return { ticket: next, message, events: [eventOf(next, 'ticket.message_added', actor, changes, data, now)] };
}

/** A solved ticket closes by itself once the auto-close delay has passed without activity. */
export function autoCloseDueAt(ticket: Ticket, autoCloseAfterMs: number): number | null {
  if (ticket.status !== 'solved' || ticket.solved_at === null) return null;
  return Date.parse(ticket.solved_at) + autoCloseAfterMs;
}

export function autoClose(ticket: Ticket, now: string): TicketChange {
  if (ticket.status !== 'solved') return { ticket, events: [] };
  const next = bump(withStatus(ticket, 'closed', now), now);
  return { ticket: next, events: [eventOf(next, 'ticket.closed', SYSTEM_ACTOR, diff(ticket, next), { reason: 'auto_close' }, now)] };
}

/**
 * Records follow-up events (SLA decisions, escalations) after a command: each is a version of its own,
 * so the timeline keeps one event per version. `update` may change the ticket (e.g. its SLA state).
 */
export function recordEvents(
  ticket: Ticket,
  entries: { type: TicketEventType; actor: Actor; data: Record<string, unknown>; changes?: Changes; update?: Partial<Ticket> }[],
  now: string,
): TicketChange {
  let next = ticket;
  const events: TicketEvent[] = [];
  for (const entry of entries) {
    next = bump({ ...next, ...entry.update }, now);
    events.push(eventOf(next, entry.type, entry.actor, entry.changes ?? {}, entry.data, now));
  }
  return { ticket: next, events };
}

function withStatus(ticket: Ticket, status: TicketStatus, now: string): Ticket {
  return {
    ...ticket,
    status,
    solved_at: status === 'solved' ? now : status === 'closed' ? ticket.solved_at : null,
    closed_at: status === 'closed' ? now : null,
  };
}

function bump(ticket: Ticket, now: string): Ticket {
  return { ...ticket, version: ticket.version + 1, updated_at: now };
}

const TRACKED_FIELDS = ['subject', 'status', 'priority', 'assignee_id', 'group_id', 'tags'] as const;

function diff(before: Ticket, after: Ticket): Changes {
  const changes: Changes = {};
  for (const field of TRACKED_FIELDS) {
    if (JSON.stringify(before[field]) !== JSON.stringify(after[field])) {
      changes[field] = { from: before[field], to: after[field] };
    }
  }
  return changes;
}

function eventOf(ticket: Ticket, type: TicketEventType, actor: Actor, changes: Changes, data: Record<string, unknown>, now: string): TicketEvent {
  return { tenant_id: ticket.tenant_id, ticket_id: ticket.id, version: ticket.version, type, actor, changes, data, occurred_at: now };
}
