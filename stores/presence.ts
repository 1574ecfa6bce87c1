/**
 * Who is on a ticket (viewing, replying, typing) and which agents are online or away (issue #11), in Redis.
 *
 * Redis 7.0 has no per-field hash expiry, so each ticket has a sorted set (user → the time their presence expires) and
 * a hash (user → their viewer JSON); expired members are removed whenever the ticket is read or written, and both keys
 * expire themselves after the last member would have, so nothing lingers. Agent statuses work the same way per tenant.
 *
 * Every change happens in one Lua call that also publishes the result on the tenant's live channel when something
 * changed (a member came, went, expired, or changed state): the messages leave in the order the changes were made, so
 * the last one a client receives is the current state even when several API nodes write the same ticket at once (a
 * publish after the call could overtake another node's). A refresh that changes nothing publishes nothing.
 *
 * A viewer that simply stops refreshing is only noticed when someone reads or writes its ticket, or when `sweep` (run
 * periodically by the live server) visits the tickets whose earliest expiry has passed (the `presence:due` index).
 */
import type { Redis } from 'ioredis';
import type { AgentStatus, PresenceState, Viewer } from '../domain/live';
import { liveChannelOf } from '../platform/channels';
import type { LiveBusMessage } from '../platform/live-bus';

export interface PresenceOptions {
  /** A viewing/replying user not heard from for this long is gone (LIVE_PRESENCE_TTL). */
  ttlMs: number;
  /** A typing user not heard from for this long is gone (LIVE_TYPING_TTL): typing is refreshed with every keystroke burst. */
  typingTtlMs: number;
}

export type AgentPresence = { user_id: string; status: AgentStatus };

const ticketKey = (tenantId: string, ticketId: string) => `presence:${tenantId}:ticket:${ticketId}`;
const ticketStateKey = (tenantId: string, ticketId: string) => `presence:${tenantId}:ticket:${ticketId}:state`;
const agentsKey = (tenantId: string) => `presence:${tenantId}:agents`;
const agentStatusKey = (tenantId: string) => `presence:${tenantId}:agents:status`;
/** Every ticket and agent list with members, scored by its earliest expiry (only ids in it): what `sweep` visits. */
const DUE_KEY = 'presence:due';
const ticketDue = (tenantId: string, ticketId: string) => `t:${tenantId}:${ticketId}`;
const agentsDue = (tenantId: string) => `a:${tenantId}`;

// Shared tail of both scripts: the keys expire a second after their last member would (a refresh extends them); an
// empty list is deleted and leaves the due index.
const KEEP_OR_DROP = `
local function keep_or_drop(zkey, hkey, due, dueMember, now)
  local last = redis.call('ZRANGE', zkey, -1, -1, 'WITHSCORES')
  if #last == 0 then
    redis.call('DEL', zkey, hkey)
    redis.call('ZREM', due, dueMember)
    return
  end
  local ttl = math.max(math.floor(tonumber(last[2]) - now), 0) + 1000
  redis.call('PEXPIRE', zkey, ttl)
  redis.call('PEXPIRE', hkey, ttl)
  local first = redis.call('ZRANGE', zkey, 0, 0, 'WITHSCORES')
  redis.call('ZADD', due, first[2], dueMember)
  if redis.call('PTTL', due) < ttl then redis.call('PEXPIRE', due, ttl) end
end
local function drop_expired(zkey, hkey, now)
  local gone = redis.call('ZRANGEBYSCORE', zkey, '-inf', now)
  if #gone > 0 then
    redis.call('ZREMRANGEBYSCORE', zkey, '-inf', now)
    redis.call('HDEL', hkey, unpack(gone))
  end
  return gone
end
`;

// KEYS: ticket zset, ticket hash, due index. ARGV: now ms, op (touch|leave|read), user id, expires-at ms, state, name,
// viewer JSON (written when the state or name changed: since = now), due member, channel, message head (the presence
// message without its closing brace, ending in `"viewers":`).
// Viewers come out sorted by their JSON, which starts with `since` (fixed-width ISO) then `user_id`: longest there first.
const TICKET = `${KEEP_OR_DROP}
local zkey, hkey, due = KEYS[1], KEYS[2], KEYS[3]
local now, op, user = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local changed = #drop_expired(zkey, hkey, now) > 0
if op == 'touch' then
  local current = redis.call('ZSCORE', zkey, user) and redis.call('HGET', hkey, user)
  local same = false
  if current then
    local c = cjson.decode(current)
    same = c.state == ARGV[5] and c.name == ARGV[6]
  end
  if not same then
    redis.call('HSET', hkey, user, ARGV[7])
    changed = true
  end
  redis.call('ZADD', zkey, ARGV[4], user)
elseif op == 'leave' then
  if redis.call('ZREM', zkey, user) == 1 then changed = true end
  redis.call('HDEL', hkey, user)
end
keep_or_drop(zkey, hkey, due, ARGV[8], now)
local entries = redis.call('HVALS', hkey)
table.sort(entries)
local viewers = '[' .. table.concat(entries, ',') .. ']'
if changed then redis.call('PUBLISH', ARGV[9], ARGV[10] .. viewers .. '}') end
return viewers`;

// KEYS: agents zset, status hash, due index. ARGV: now ms, op (set|read), user id, expires-at ms, status (online|away|
// offline), due member, channel. Publishes the user's new status when it changed, and `offline` for each one expired.
// Returns user id, status, user id, status...
const AGENTS = `${KEEP_OR_DROP}
local zkey, hkey, due = KEYS[1], KEYS[2], KEYS[3]
local now, op, user, status, channel = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[5], ARGV[7]
local function announce(id, s)
  redis.call('PUBLISH', channel, '{"kind":"agent_status","user_id":' .. cjson.encode(id) .. ',"status":"' .. s .. '"}')
end
for _, id in ipairs(drop_expired(zkey, hkey, now)) do
  -- Not the user being set back online/away in this very call (that is one change, announced below).
  if not (op == 'set' and id == user and status ~= 'offline') then announce(id, 'offline') end
end
if op == 'set' then
  -- After the expired are gone: an expired user coming back is a change from offline.
  local before = redis.call('HGET', hkey, user) or 'offline'
  if status == 'offline' then
    redis.call('ZREM', zkey, user)
    redis.call('HDEL', hkey, user)
  else
    redis.call('ZADD', zkey, ARGV[4], user)
    redis.call('HSET', hkey, user, status)
  end
  if before ~= status then announce(user, status) end
end
keep_or_drop(zkey, hkey, due, ARGV[6], now)
return redis.call('HGETALL', hkey)`;

type WithPresenceCommands = Redis & {
  deskflowPresenceTicket(zkey: string, hkey: string, due: string, ...args: (string | number)[]): Promise<string>;
  deskflowPresenceAgents(zkey: string, hkey: string, due: string, ...args: (string | number)[]): Promise<string[]>;
};

function withCommands(redis: Redis): WithPresenceCommands {
  const r = redis as WithPresenceCommands;
  if (typeof r.deskflowPresenceTicket !== 'function') redis.defineCommand('deskflowPresenceTicket', { numberOfKeys: 3, lua: TICKET });
  if (typeof r.deskflowPresenceAgents !== 'function') redis.defineCommand('deskflowPresenceAgents', { numberOfKeys: 3, lua: AGENTS });
  return r;
}

/** The presence message up to its viewers (the script appends them and the closing brace). */
function presenceHead(ticketId: string): string {
  const message: Omit<Extract<LiveBusMessage, { kind: 'presence' }>, 'viewers'> = { kind: 'presence', ticket_id: ticketId };
  return `${JSON.stringify(message).slice(0, -1)},"viewers":`;
}

export function presenceStore(redis: Redis, options: PresenceOptions) {
  const r = withCommands(redis);

  async function ticketOp(tenantId: string, ticketId: string, op: 'touch' | 'leave' | 'read', user = '', expiresAt = 0, entry?: Viewer): Promise<Viewer[]> {
    const json = await r.deskflowPresenceTicket(
      ticketKey(tenantId, ticketId),
      ticketStateKey(tenantId, ticketId),
      DUE_KEY,
      Date.now(),
      op,
      user,
      expiresAt,
      entry?.state ?? '',
      entry?.name ?? '',
      // `since` first: the script sorts viewers by their JSON.
      entry ? JSON.stringify({ since: entry.since, user_id: entry.user_id, name: entry.name, state: entry.state }) : '',
      ticketDue(tenantId, ticketId),
      liveChannelOf(redis, tenantId),
      presenceHead(ticketId),
    );
    return JSON.parse(json) as Viewer[];
  }

  async function agentOp(tenantId: string, op: 'set' | 'read', user = '', expiresAt = 0, status = ''): Promise<AgentPresence[]> {
    const flat = await r.deskflowPresenceAgents(
      agentsKey(tenantId),
      agentStatusKey(tenantId),
      DUE_KEY,
      Date.now(),
      op,
      user,
      expiresAt,
      status,
      agentsDue(tenantId),
      liveChannelOf(redis, tenantId),
    );
    const out: AgentPresence[] = [];
    for (let i = 0; i < flat.length; i += 2) out.push({ user_id: flat[i]!, status: flat[i + 1] as AgentStatus });
    return out.sort((a, b) => a.user_id.localeCompare(b.user_id));
  }

  return {
    /**
     * The user is on the ticket in `state` (the latest state replaces the previous one); keeps them there for the
     * presence TTL (the typing TTL while typing). Publishes the viewers when the set or a state changed.
     */
    touch(tenantId: string, ticketId: string, user: { id: string; name: string }, state: PresenceState): Promise<Viewer[]> {
      const now = Date.now();
      const ttl = state === 'typing' ? options.typingTtlMs : options.ttlMs;
      const entry: Viewer = { user_id: user.id, name: user.name, state, since: new Date(now).toISOString() };
      return ticketOp(tenantId, ticketId, 'touch', user.id, now + ttl, entry);
    },

    /** The user left the ticket (publishes when they were on it, or when others expired meanwhile). */
    leave(tenantId: string, ticketId: string, userId: string): Promise<Viewer[]> {
      return ticketOp(tenantId, ticketId, 'leave', userId);
    },

    /** Everyone on the ticket now (longest there first). Removing expired viewers publishes the change. */
    viewers(tenantId: string, ticketId: string): Promise<Viewer[]> {
      return ticketOp(tenantId, ticketId, 'read');
    },

    /** The agent's status until `ttlMs` from now (repeat to stay); `offline` removes it. Publishes a change. */
    setStatus(tenantId: string, userId: string, status: AgentStatus | 'offline', ttlMs: number): Promise<AgentPresence[]> {
      return agentOp(tenantId, 'set', userId, Date.now() + ttlMs, status);
    },

    /** The tenant's agents online or away (anyone else is offline). Agents found expired are announced offline. */
    statuses(tenantId: string): Promise<AgentPresence[]> {
      return agentOp(tenantId, 'read');
    },

    /**
     * Visits the tickets and agent lists (all tenants) whose earliest member has expired, removing the expired and
     * publishing the changes: so clients hear of a viewer that vanished without `left`. Safe on every node at once
     * (each expiry is removed, and announced, once). Returns how many lists were visited.
     */
    async sweep(limit = 500): Promise<number> {
      const due = await redis.zrangebyscore(DUE_KEY, '-inf', Date.now(), 'LIMIT', 0, limit);
      await Promise.all(
        due.map((member) => {
          const [kind, tenantId = '', ticketId = ''] = member.split(':');
          return kind === 't' ? ticketOp(tenantId, ticketId, 'read') : agentOp(tenantId, 'read');
        }),
      );
      return due.length;
    },
  };
}

export type PresenceStore = ReturnType<typeof presenceStore>;
