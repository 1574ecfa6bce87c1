/**
 * Webhooks: the catalog of deliverable events (one definition per type, with its payload schema),
 * the payloads a ticket change produces, and the endpoint schemas admins manage.
 * Pure: the projection builds payloads here and stores their bytes once; every attempt sends those bytes.
 */
import { z } from 'zod';
import { BREAKER_STATES } from './circuit-breaker';
import type { TicketEvent } from './events';
import { Uuid } from './ids';
import { Text } from './text';
import { Actor, type Message, MessageVisibility, Ticket } from './ticket';

/** The ticket as a payload shows it: the Ticket schema's public fields (no SLA internals). */
const TicketSnapshot = Ticket.pick({
  id: true,
  subject: true,
  status: true,
  priority: true,
  channel: true,
  customer_id: true,
  assignee_id: true,
  group_id: true,
  tags: true,
  version: true,
  created_at: true,
  updated_at: true,
});
const Changes = z.record(z.string(), z.object({ from: z.unknown(), to: z.unknown() }));
/** Every ticket payload names the ticket version it describes, so a consumer can spot a gap. */
const TicketPayload = z.object({ ticket_id: Uuid, version: z.number().int(), actor: Actor, changes: Changes, ticket: TicketSnapshot });
const SlaPayload = z.object({
  ticket_id: Uuid,
  version: z.number().int(),
  metric: z.string(),
  due_at: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
  ticket: TicketSnapshot,
});

/** Archival's events name the ticket's (unchanged) version; they are not versions of their own. */
const ArchivePayload = z.object({
  ticket_id: Uuid,
  version: z.number().int(),
  archived_at: z.string(),
  archive: z.object({ location: z.string(), sha256: z.string(), size: z.number().int() }),
  ticket: TicketSnapshot,
});
const RestorePayload = z.object({ ticket_id: Uuid, version: z.number().int(), restored_at: z.string(), actor: Actor, ticket: TicketSnapshot });

export const WEBHOOK_EVENTS = {
  'ticket.created': { description: 'A ticket was opened.', payload: TicketPayload },
  'ticket.updated': { description: 'Status, priority, assignee, group, tags or subject changed.', payload: TicketPayload },
  'ticket.message_added': {
    description: 'A public reply or (for endpoints that opt in) an internal note was added.',
    payload: TicketPayload.extend({
      message: z.object({
        id: Uuid,
        visibility: MessageVisibility,
        author_type: z.string(),
        author_id: z.string().nullable(),
        body: z.string(),
        created_at: z.string(),
      }),
    }),
  },
  'ticket.closed': { description: 'A ticket closed (by an agent or after the auto-close delay).', payload: TicketPayload },
  'ticket.archived': {
    description: 'A closed ticket was archived: its export is verified in object storage and its messages left the hot tables (GET still answers).',
    payload: ArchivePayload,
  },
  'ticket.restored': { description: 'An admin restored an archived ticket into the hot tables (closed, as it was archived).', payload: RestorePayload },
  'sla.warning': { description: 'An SLA metric reached its warning threshold.', payload: SlaPayload },
  'sla.breached': { description: 'An SLA metric passed its due time.', payload: SlaPayload },
  'sla.escalated': { description: 'An escalation rule ran its actions.', payload: SlaPayload },
  'webhook.test': {
    description: 'Sent on request from the console or the API, to check an endpoint.',
    payload: z.object({ endpoint_id: Uuid, message: z.string() }),
  },
} as const satisfies Record<string, { description: string; payload: z.ZodType }>;

export type WebhookEventType = keyof typeof WEBHOOK_EVENTS;
export const WEBHOOK_EVENT_TYPES = Object.keys(WEBHOOK_EVENTS) as WebhookEventType[];
export const WebhookEventType = z.enum(WEBHOOK_EVENT_TYPES as [WebhookEventType, ...WebhookEventType[]]);

/** What a webhook body is: `{ type, timestamp, data }` (Standard Webhooks). */
export interface WebhookEnvelope {
  type: WebhookEventType;
  timestamp: string;
  data: unknown;
}

/** One deliverable event of a ticket change, serialised once. */
export interface WebhookEvent {
  type: WebhookEventType;
  ticket_id: string;
  ticket_version: number;
  /** An internal note: only endpoints that opted in receive it (and the feed shows it only to them). */
  internal: boolean;
  body: string;
}

type SnapshotFields = keyof typeof TicketSnapshot.shape;
const snapshot = (t: Pick<Ticket, SnapshotFields>) => ({
  id: t.id,
  subject: t.subject,
  status: t.status,
  priority: t.priority,
  channel: t.channel,
  customer_id: t.customer_id,
  assignee_id: t.assignee_id,
  group_id: t.group_id,
  tags: t.tags,
  version: t.version,
  created_at: t.created_at,
  updated_at: t.updated_at,
});

/**
 * The body of `ticket.archived` / `ticket.restored`: the envelope every delivery sends, with the ticket as archived.
 * Its timestamps are normalised to ISO 8601 `Z` like every other payload's.
 */
export function archivalEventBody(
  type: 'ticket.archived' | 'ticket.restored',
  at: string,
  ticket: Pick<Ticket, SnapshotFields>,
  details: { archive: { location: string; sha256: string; size: number } } | { actor: Actor },
): string {
  const iso = (value: string) => new Date(value).toISOString();
  const t = { ...snapshot(ticket), created_at: iso(ticket.created_at), updated_at: iso(ticket.updated_at) };
  const data = { ticket_id: ticket.id, version: ticket.version, [type === 'ticket.archived' ? 'archived_at' : 'restored_at']: iso(at), ...details, ticket: t };
  const envelope: WebhookEnvelope = { type, timestamp: iso(at), data };
  return JSON.stringify(envelope);
}

/** Archival's events are built by archivalEventBody, never from a ticket version. */
const NOT_FROM_VERSIONS = new Set(['webhook.test', 'ticket.archived', 'ticket.restored']);
const isDeliverable = (type: string): type is WebhookEventType => type in WEBHOOK_EVENTS && !NOT_FROM_VERSIONS.has(type);

/**
 * The deliverable events of one projected change: timeline events whose type is in the catalog, each with
 * the ticket as it is after the change (the last version), and the message for `ticket.message_added`.
 */
export function webhookEventsOf(ticket: Ticket, events: TicketEvent[], message?: Message): WebhookEvent[] {
  const out: WebhookEvent[] = [];
  for (const e of events) {
    if (!isDeliverable(e.type)) continue;
    let data: Record<string, unknown>;
    if (e.type.startsWith('sla.')) {
      const { metric, due_at, ...details } = e.data as { metric?: string; due_at?: string | null };
      data = { ticket_id: ticket.id, version: e.version, metric: metric ?? '', due_at: due_at ?? null, details, ticket: snapshot(ticket) };
    } else {
      data = { ticket_id: ticket.id, version: e.version, actor: e.actor, changes: e.changes, ticket: snapshot(ticket) };
      // Only the message this event names (a change may carry follow-up events after it).
      if (e.type === 'ticket.message_added' && message && message.id === e.data.message_id) {
        const { id, visibility, author_type, author_id, body, created_at } = message;
        data.message = { id, visibility, author_type, author_id, body, created_at };
      }
    }
    // Fails closed: the event's own record of the visibility counts even when the message is not attached.
    const internal =
      e.type === 'ticket.message_added' && (e.data.visibility === 'internal' || (message?.id === e.data.message_id && message?.visibility === 'internal'));
    const envelope: WebhookEnvelope = { type: e.type, timestamp: e.occurred_at, data };
    out.push({ type: e.type, ticket_id: ticket.id, ticket_version: e.version, internal, body: JSON.stringify(envelope) });
  }
  return out;
}

/** Custom headers an endpoint adds to every attempt; never ones that would change what a delivery means. */
const RESERVED_HEADER = /^(webhook-|content-|host$|connection$|transfer-encoding$|user-agent$|authorization$|cookie$)/i;
const HeaderName = Text.regex(/^[A-Za-z0-9-]{1,64}$/, 'letters, digits and -').refine((h) => !RESERVED_HEADER.test(h), 'a reserved header');
const HeaderValue = Text.max(1024).regex(/^[\x20-\x7e]*$/, 'printable ASCII');

const EventTypes = z
  .array(WebhookEventType)
  .max(50)
  .transform((types) => [...new Set(types)]);
const Headers = z
  .record(HeaderName, HeaderValue)
  .refine((h) => Object.keys(h).length <= 20, 'at most 20 headers')
  .refine((h) => new Set(Object.keys(h).map((k) => k.toLowerCase())).size === Object.keys(h).length, 'a header is named twice');

/** The fields an admin sets; the create schema adds defaults, the patch schema takes any subset (no defaults). */
const EndpointFields = {
  /** https (plain http only when configured); the host is checked against SSRF rules (platform/ssrf.ts). */
  url: Text.max(2048),
  description: Text.trim().max(500),
  /** Empty: every event type, present and future. */
  event_types: EventTypes,
  enabled: z.boolean(),
  headers: Headers,
  /** Internal notes leave only when an endpoint asks for them. */
  include_internal: z.boolean(),
};

export const CreateWebhookEndpointInput = z
  .object({
    url: EndpointFields.url,
    description: EndpointFields.description.default(''),
    event_types: EndpointFields.event_types.default([]),
    enabled: EndpointFields.enabled.default(true),
    headers: EndpointFields.headers.default({}),
    include_internal: EndpointFields.include_internal.default(false),
  })
  .strict();
export type CreateWebhookEndpointInput = z.infer<typeof CreateWebhookEndpointInput>;

export const PatchWebhookEndpointInput = z
  .object(EndpointFields)
  .partial()
  .strict()
  .refine((p) => Object.keys(p).length > 0, { message: 'at least one field is required' });
export type PatchWebhookEndpointInput = z.infer<typeof PatchWebhookEndpointInput>;

export const WebhookEndpoint = z.object({
  id: Uuid,
  tenant_id: Uuid,
  url: z.string(),
  description: z.string(),
  event_types: z.array(WebhookEventType),
  enabled: z.boolean(),
  disabled_reason: z.string().nullable(),
  headers: z.record(z.string(), z.string()),
  include_internal: z.boolean(),
  secret_created_at: z.string(),
  /** The secret is older than the rotation period (90 days by default): rotate it. */
  secret_rotation_due: z.boolean(),
  /** The endpoint's circuit breaker: `open` holds deliveries until `retry_at` (then one probe), `half_open` while it probes. */
  circuit: z.object({
    state: z.enum(BREAKER_STATES),
    /** Trips since the last successful probe; reaching WEBHOOK_BREAKER_TRIPS_TO_DISABLE disables the endpoint. */
    trips: z.number().int(),
    /** When the next probe may go (open only). */
    retry_at: z.string().nullable(),
  }),
  version: z.number().int(),
  created_at: z.string(),
  updated_at: z.string(),
});
export type WebhookEndpoint = z.infer<typeof WebhookEndpoint>;

/** One entry of `GET /api/v1/webhook-event-types`: the type, what it means, and its `data` as JSON Schema. */
export const WebhookEventTypeInfo = z.object({
  type: WebhookEventType,
  description: z.string(),
  payload_schema: z.record(z.string(), z.unknown()).describe('JSON Schema of the `data` member of the `{type, timestamp, data}` body'),
});
export type WebhookEventTypeInfo = z.infer<typeof WebhookEventTypeInfo>;

/** The catalog as the API lists it, derived from WEBHOOK_EVENTS. */
export const webhookEventCatalog = (): WebhookEventTypeInfo[] =>
  WEBHOOK_EVENT_TYPES.map((type) => ({
    type,
    description: WEBHOOK_EVENTS[type].description,
    payload_schema: z.toJSONSchema(WEBHOOK_EVENTS[type].payload, { io: 'output', unrepresentable: 'any' }) as Record<string, unknown>,
  }));

export const DELIVERY_STATUSES = ['pending', 'retrying', 'held', 'delivered', 'dead'] as const;
export const DeliveryStatus = z.enum(DELIVERY_STATUSES);
export type DeliveryStatus = z.infer<typeof DeliveryStatus>;
