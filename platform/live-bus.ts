/**
 * The live bus: how a change reaches every API node's WebSocket clients (issue #11).
 *
 * A ticket event is appended to its tenant's Redis stream (the resume window: the last LIVE_RESUME_EVENTS events, none
 * older than LIVE_RESUME_WINDOW) and published on the tenant's channel with the stream id, in one Lua call, so the
 * id a client sees live is the id it resumes from. Ephemeral messages (presence, agent status) are only published
 * (stores/presence.ts, in the same Lua call as the change they announce).
 * Stream keys get REDIS_KEY_PREFIX from ioredis; channel names carry it themselves (platform/channels.ts).
 */
import type { Redis } from 'ioredis';
import type { AgentStatus, LiveEnvelope, LiveEventId, Viewer } from '../domain/live';
import { liveChannelOf } from './channels';

/** Who may receive an event (the API node filters per connection). */
export interface LiveRecord {
  /** `tickets`: whoever may read the ticket (queue filters apply); `admins`: credentials with webhooks:manage. */
  audience: 'tickets' | 'admins';
  /** The ticket as it is after the change, and what it was before (queue filters read both). */
  ticket: {
    id: string;
    status: string;
    assignee_id: string | null;
    group_id: string | null;
    was: { status: string; assignee_id: string | null; group_id: string | null } | null;
  } | null;
  /** An internal note: users only, never API keys. */
  internal: boolean;
  event: LiveEnvelope;
}

/** What travels on a tenant's channel. */
export type LiveBusMessage =
  | ({ kind: 'event'; id: LiveEventId } & LiveRecord)
  | { kind: 'presence'; ticket_id: string; viewers: Viewer[] }
  | { kind: 'agent_status'; user_id: string; status: AgentStatus | 'offline' };

export interface LiveWindow {
  /** At most this many events per tenant are kept for resuming (approximately: Redis trims whole nodes). */
  events: number;
  /** …and none older than this. */
  ms: number;
}

/** The window: 1,000 events or 5 minutes (LIVE_RESUME_EVENTS, LIVE_RESUME_WINDOW). */
export const DEFAULT_LIVE_WINDOW: LiveWindow = { events: 1000, ms: 5 * 60 * 1000 };

export const liveWindowOf = (config: { LIVE_RESUME_EVENTS: number; LIVE_RESUME_WINDOW: number }): LiveWindow => ({
  events: config.LIVE_RESUME_EVENTS,
  ms: config.LIVE_RESUME_WINDOW,
});

export const liveStreamKey = (tenantId: string) => `live:events:${tenantId}`;

// KEYS[1] stream, KEYS[2] the event's once-key; ARGV: max length, record JSON (an object), key TTL ms, channel, '1' when
// the once-key applies. The published message is the record with `kind` and `id` put in front (string surgery: no JSON
// library in between, the bytes stay as given). An event whose once-key is set already was appended before: nothing.
const APPEND_AND_PUBLISH = `
if ARGV[5] == '1' and not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[3]) then return false end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'r', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', ARGV[4], '{"kind":"event","id":"' .. id .. '",' .. string.sub(ARGV[2], 2))
return id`;

type WithLiveCommand = Redis & {
  deskflowLiveAppend(stream: string, onceKey: string, maxLen: number, record: string, ttlMs: number, channel: string, once: '0' | '1'): Promise<string | null>;
};

function withCommand(redis: Redis): WithLiveCommand {
  const r = redis as WithLiveCommand;
  if (typeof r.deskflowLiveAppend !== 'function') redis.defineCommand('deskflowLiveAppend', { numberOfKeys: 2, lua: APPEND_AND_PUBLISH });
  return r;
}

export const liveOnceKey = (tenantId: string, eventId: string) => `live:once:${tenantId}:${eventId}`;

/**
 * Appends a ticket event to the tenant's window and publishes it; returns its id. With `onceId` (the event's own stable
 * id), an event appended already within the window is not appended again (returns null): a projection retried after
 * its commit can publish what the crashed attempt may not have, and clients still see each event once.
 */
export async function publishLiveEvent(redis: Redis, tenantId: string, record: LiveRecord, window: LiveWindow, onceId?: string): Promise<LiveEventId | null> {
  const stream = liveStreamKey(tenantId);
  return withCommand(redis).deskflowLiveAppend(
    stream,
    onceId ? liveOnceKey(tenantId, onceId) : stream,
    window.events,
    JSON.stringify(record),
    window.ms,
    liveChannelOf(redis, tenantId),
    onceId ? '1' : '0',
  );
}

/** A notice for the tenant's admins (a webhook dead letter, a circuit breaker's move), kept for resuming like any event. */
export async function publishLiveNotice(
  redis: Redis,
  tenantId: string,
  type: string,
  data: Record<string, unknown>,
  window = DEFAULT_LIVE_WINDOW,
): Promise<void> {
  const event = { type, timestamp: new Date().toISOString(), data };
  await publishLiveEvent(redis, tenantId, { audience: 'admins', ticket: null, internal: false, event }, window);
}

/** The id of the tenant's newest kept event (where a client that resyncs carries on from), or null. */
export async function newestLiveEventId(redis: Redis, tenantId: string): Promise<LiveEventId | null> {
  const [newest] = await redis.xrevrange(liveStreamKey(tenantId), '+', '-', 'COUNT', 1);
  return newest?.[0] ?? null;
}

/** Orders stream ids (`<ms>-<seq>`). */
export function compareLiveIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am - bm || as - bs;
}

/**
 * The events after `lastId`, oldest first, or `gap` when some of them are no longer kept (trimmed, expired, older than
 * the window, or Redis lost them): the client must re-read over REST.
 */
export async function eventsSince(
  redis: Redis,
  tenantId: string,
  lastId: LiveEventId,
  window: LiveWindow,
  now = Date.now(),
): Promise<(LiveRecord & { id: LiveEventId })[] | 'gap'> {
  if (Number(lastId.split('-')[0]) < now - window.ms) return 'gap';
  const key = liveStreamKey(tenantId);
  const [first, entries] = await Promise.all([redis.xrange(key, '-', '+', 'COUNT', 1), redis.xrange(key, `(${lastId}`, '+', 'COUNT', window.events * 2)]);
  const firstId = first[0]?.[0];
  // Nothing kept, or the oldest kept is newer than what the client has: what lay between may have been trimmed.
  if (!firstId || compareLiveIds(firstId, lastId) > 0) return 'gap';
  if (entries.length >= window.events * 2) return 'gap';
  return entries.map(([id, fields]) => ({ id, ...(JSON.parse(fields[1] ?? '{}') as LiveRecord) }));
}
