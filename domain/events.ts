import { z } from 'zod';
import { Actor } from './ticket';

/** The event catalog: every ticket version is produced by exactly one of these (archival's two aside, see below). */
export const TICKET_EVENT_TYPES = [
  'ticket.created',
  'ticket.updated',
  'ticket.message_added',
  'ticket.closed',
  // SLA decisions, so the timeline explains every deadline.
  'sla.policy_applied',
  'sla.retargeted',
  'sla.paused',
  'sla.resumed',
  'sla.achieved',
  'sla.warning',
  'sla.breached',
  'sla.escalated',
  'sla.acknowledged',
  // Not versions of their own (the ticket is unchanged): it left the hot tables for its archive, or came back.
  'ticket.archived',
  'ticket.restored',
] as const;
export const TicketEventType = z.enum(TICKET_EVENT_TYPES);
export type TicketEventType = z.infer<typeof TicketEventType>;

/** A field change recorded in the timeline: `{ status: { from: 'new', to: 'open' } }`. */
export type Changes = Record<string, { from: unknown; to: unknown }>;

export const TicketEvent = z.object({
  tenant_id: z.string(),
  ticket_id: z.string(),
  version: z.number().int().positive(),
  type: TicketEventType,
  actor: Actor,
  changes: z.record(z.string(), z.object({ from: z.unknown(), to: z.unknown() })),
  data: z.record(z.string(), z.unknown()),
  occurred_at: z.string(),
});
export type TicketEvent = z.infer<typeof TicketEvent>;
