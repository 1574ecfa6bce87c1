/**
 * The backstop of retention for what Deskflow keeps in Redis. Every idempotency record, session and refresh token is
 * written with its time to live, so Redis itself deletes it on time; this sweep makes the limits hold for keys that
 * escaped that (no TTL, or a TTL longer than the limit now configured: written before it was lowered, or restored
 * without expiry) and drops refresh tokens whose session has ended. Each key is judged and changed in one script, so a
 * key rewritten meanwhile by the API is never acted on from a stale read.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { REDIS_KEY_FAMILIES } from '../platform/redis-keys';

export interface RedisRetentionLimits {
  idempotency_ms: number;
  session_ms: number;
  refresh_token_ms: number;
}

/** Clock slack: a TTL set a moment after its deadline was computed may exceed it by this much without being cut. */
export const TTL_SLACK_MS = 1000;

const NOTHING = 0;
const DELETED = 1;
const CAPPED = 2;

// KEYS[1] the key; ARGV limit, slack. A key without expiry is deleted: every legitimate write sets one atomically.
const BOUND_IDEMPOTENCY = `
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 then return ${NOTHING} end
if ttl == -1 then redis.call('DEL', KEYS[1]) return ${DELETED} end
if ttl > tonumber(ARGV[1]) + tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) return ${CAPPED} end
return ${NOTHING}`;

// KEYS[1] the session; ARGV limit, now (ms), slack. Past its own expires_at (or unreadable): deleted.
const BOUND_SESSION = `
if redis.call('TYPE', KEYS[1]).ok ~= 'string' then return ${NOTHING} end
local ok, session = pcall(cjson.decode, redis.call('GET', KEYS[1]))
local expires = ok and type(session) == 'table' and tonumber(session['expires_at']) or nil
local now = tonumber(ARGV[2])
if not expires or expires <= now then redis.call('DEL', KEYS[1]) return ${DELETED} end
local allowed = math.floor(math.min(tonumber(ARGV[1]), expires - now))
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -1 or ttl > allowed + tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], allowed) return ${CAPPED} end
return ${NOTHING}`;

// KEYS[1] the refresh token, KEYS[2] its session; ARGV limit, slack. A token whose session is gone can only fail: deleted.
const BOUND_REFRESH_TOKEN = `
if redis.call('TYPE', KEYS[1]).ok ~= 'string' then return ${NOTHING} end
if redis.call('EXISTS', KEYS[2]) == 0 then redis.call('DEL', KEYS[1]) return ${DELETED} end
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -1 or ttl > tonumber(ARGV[1]) + tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) return ${CAPPED} end
return ${NOTHING}`;

const sha1 = (script: string) => createHash('sha1').update(script).digest('hex');
const SCRIPTS = [BOUND_IDEMPOTENCY, BOUND_SESSION, BOUND_REFRESH_TOKEN];

/** SCAN's MATCH is a glob: a prefix with glob characters must match only itself. */
const globLiteral = (text: string) => text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);

export interface RedisSweepStep {
  cursor: string;
  examined: number;
  deleted: number;
  capped: number;
}

export function redisRetentionStore(redis: Redis) {
  // SCAN is not prefixed by the client (its keys come back whole); every other command here is.
  const prefix = redis.options.keyPrefix ?? '';

  const run = async (script: string, keys: string[], args: (string | number)[]): Promise<number> => {
    try {
      return (await redis.evalsha(sha1(script), keys.length, ...keys, ...args)) as number;
    } catch (err) {
      if (!String((err as Error).message).includes('NOSCRIPT')) throw err;
      return (await redis.eval(script, keys.length, ...keys, ...args)) as number;
    }
  };

  /** Judges one key (its name without the prefix); NOTHING for keys of other families. */
  async function bound(key: string, limits: RedisRetentionLimits, now: number): Promise<number> {
    const f = REDIS_KEY_FAMILIES;
    if (key.startsWith(f.idempotency)) return run(BOUND_IDEMPOTENCY, [key], [limits.idempotency_ms, TTL_SLACK_MS]);
    if (key.startsWith(f.session)) return run(BOUND_SESSION, [key], [limits.session_ms, now, TTL_SLACK_MS]);
    if (key.startsWith(f.refreshToken)) {
      // The token's session id is in its value (`{ sid }`), fixed for the token's life; an unreadable one names no session.
      const raw = await redis.get(key).catch(() => null);
      let sid = '';
      try {
        sid = raw ? String((JSON.parse(raw) as { sid?: unknown }).sid ?? '') : '';
      } catch {
        sid = '';
      }
      return run(BOUND_REFRESH_TOKEN, [key, `${f.session}${sid}`], [limits.refresh_token_ms, TTL_SLACK_MS]);
    }
    return NOTHING;
  }

  return {
    /** From `cursor`, walks about `batch` keys of this deployment's prefix; `cursor` `0` in the answer: the walk is done. */
    async sweep(cursor: string, limits: RedisRetentionLimits, batch: number, now = Date.now()): Promise<RedisSweepStep> {
      await Promise.all(SCRIPTS.map((s) => redis.script('LOAD', s))); // once per step: evalsha then rarely misses
      const step: RedisSweepStep = { cursor, examined: 0, deleted: 0, capped: 0 };
      const match = `${globLiteral(prefix)}*`;
      const count = Math.min(1000, batch);
      let visited = 0;
      do {
        const [next, keys] = await redis.scan(step.cursor, 'MATCH', match, 'COUNT', count);
        visited += count;
        step.cursor = next;
        const outcomes = await Promise.all(keys.map((k) => bound(k.slice(prefix.length), limits, now)));
        step.examined += keys.length;
        step.deleted += outcomes.filter((o) => o === DELETED).length;
        step.capped += outcomes.filter((o) => o === CAPPED).length;
        // A sparse match returns few keys per call: the step is bounded by the slots walked, not the keys found.
        if (visited >= batch) break;
      } while (step.cursor !== '0');
      return step;
    },
  };
}
