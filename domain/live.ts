/**
 * The live-updates protocol (`/api/v1/live`, issue #11): every message a client may send and every message the
 * server sends, as zod schemas, plus the close codes. One JSON object per WebSocket text frame.
 *
 * Events are the catalog's (domain/webhooks.ts): the same `{type, timestamp, data}` envelope as a webhook body,
 * wrapped with the id a client resumes from.
 */
import { z } from 'zod';
import { Text } from './text';
import { TicketStatus } from './ticket';

/** A Redis stream entry id (`<ms>-<seq>`): the order of a tenant's live events, and what a client resumes from. */
export const LiveEventId = z.string().regex(/^\d{1,15}-\d{1,10}$/, 'a live event id (`<ms>-<seq>`)');
export type LiveEventId = z.infer<typeof LiveEventId>;

/** What a connection receives: its user's queue narrowed by these filters (all of them when none is given). */
export const QueueFilter = z
  .object({
    status: z.array(TicketStatus).max(10).optional(),
    /** `me`: the connection's own user; `none`: unassigned tickets. */
    assignee_id: z.union([z.uuid(), z.literal('me'), z.literal('none')]).optional(),
    group_id: z.uuid().optional(),
  })
  .strict();
export type QueueFilter = z.infer<typeof QueueFilter>;

export const PresenceState = z.enum(['viewing', 'replying', 'typing']);
export type PresenceState = z.infer<typeof PresenceState>;
export const AgentStatus = z.enum(['online', 'away']);
export type AgentStatus = z.infer<typeof AgentStatus>;

const token = Text.min(1).max(4096);

/** Client → server. */
export const ClientMessage = z.discriminatedUnion('type', [
  /** Browsers authenticate with their first message (or in Sec-WebSocket-Protocol); optionally resuming. */
  z.object({ type: z.literal('auth'), token, last_event_id: LiveEventId.optional() }).strict(),
  /** A fresh access token for the same user and session, before the current one expires. */
  z.object({ type: z.literal('renew'), token }).strict(),
  /** Narrows the queue (replaces the filter) and/or follows single tickets (which are sent whatever the filter). */
  z.object({ type: z.literal('subscribe'), queue: QueueFilter.optional(), tickets: z.array(z.uuid()).max(100).optional() }).strict(),
  z.object({ type: z.literal('unsubscribe'), tickets: z.array(z.uuid()).max(100) }).strict(),
  /** Resume after a reconnect: the events after this id (or `resync` when they are no longer kept). */
  z.object({ type: z.literal('resume'), last_event_id: LiveEventId }).strict(),
  /** I am on this ticket (repeat within the presence TTL to stay); `left` ends it at once. */
  z.object({ type: z.literal('presence'), ticket_id: z.uuid(), state: z.union([PresenceState, z.literal('left')]) }).strict(),
  z.object({ type: z.literal('status'), status: AgentStatus }).strict(),
]);
export type ClientMessage = z.infer<typeof ClientMessage>;

/** A catalog event as the webhooks send it. */
export const LiveEnvelope = z.object({ type: z.string(), timestamp: z.string(), data: z.record(z.string(), z.unknown()) });
export type LiveEnvelope = z.infer<typeof LiveEnvelope>;

export const Viewer = z.object({ user_id: z.uuid(), name: z.string(), state: PresenceState, since: z.string() });
export type Viewer = z.infer<typeof Viewer>;

/** Server → client. */
export type ServerMessage =
  | { type: 'ready'; user_id: string | null; tenant_id: string; heartbeat_ms: number; token_expires_at: string | null }
  | { type: 'event'; id: LiveEventId; event: LiveEnvelope }
  /** The events since the client's last id are no longer kept: re-read over REST, then carry on from `last_event_id`. */
  | { type: 'resync'; reason: 'gap' | 'unknown_id'; last_event_id: LiveEventId | null }
  /** Everyone on a ticket now (sent on every change, and when subscribing to the ticket). */
  | { type: 'presence'; ticket_id: string; viewers: Viewer[] }
  | { type: 'agent_status'; user_id: string; status: AgentStatus | 'offline' }
  /** This node is shutting down: reconnect (elsewhere) and resume. */
  | { type: 'reconnect'; reason: 'draining' }
  /** A message that was refused (nothing changed); RFC 9457 fields. */
  | { type: 'error'; status: number; title: string; detail: string };

/** Close codes (4000–4999 are the application's; 1008/1009/1012 are the protocol's own). */
export const LIVE_CLOSE = {
  /** No valid credential within the authentication timeout, or a bad one. */
  unauthenticated: 4001,
  /** The access token expired without a `renew`. */
  tokenExpired: 4002,
  /** The session ended, the token was revoked or its user's access changed. */
  revoked: 4003,
  /** The credential lacks `tickets:read`. */
  forbidden: 4004,
  /** The client did not read fast enough: its send buffer passed the bound. */
  slowConsumer: 4008,
  /** Too many connections for this user on this node. */
  tooManyConnections: 4029,
  /** No pong to a ping within the heartbeat interval. */
  heartbeatTimeout: 4000,
  /** A browser origin not allowed. */
  policy: 1008,
  /** A message over the size bound. */
  tooBig: 1009,
  /** The node is draining (SIGTERM): reconnect elsewhere and resume. */
  restart: 1012,
} as const;
