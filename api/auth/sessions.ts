/**
 * Web sessions and refresh tokens, in Redis. A session lives SESSION_TTL from login, however often it is
 * refreshed. Refresh tokens are opaque, stored hashed, single-use: each refresh spends the presented
 * token and returns a new one; presenting a spent token revokes the whole session (token family).
 *
 * Each user has a credential epoch (users.credential_epoch, the source of truth, mirrored in Redis). Sessions
 * and access tokens carry the epoch they were issued under; raising it (deactivation, demotion, password
 * change) ends every session and access token of the user at once, on every API process.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Role } from '../../domain/auth';
import { DeskflowError } from '../../domain/errors';
import { REDIS_KEY_FAMILIES } from '../../platform/redis-keys';

export interface Session {
  sid: string;
  user_id: string;
  tenant_id: string;
  role: Role;
  /** The user's credential epoch at login; absent in sessions started before epochs existed (= 0). */
  epoch?: number;
  expires_at: number; // epoch ms: the hard end of the session
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('base64url');
const sessionKey = (sid: string) => `${REDIS_KEY_FAMILIES.session}${sid}`;
const refreshKey = (token: string) => `${REDIS_KEY_FAMILIES.refreshToken}${sha256(token)}`;
const revokedJtiKey = (jti: string) => `jti:${jti}`;
const epochKey = (userId: string) => `uep:${userId}`;

// The epoch in Redis only ever rises: a login that read the user just before a password change must not
// put the old epoch back. An equal value refreshes the time to live.
const RAISE_EPOCH = `
local current = tonumber(redis.call('GET', KEYS[1]))
local epoch = tonumber(ARGV[1])
if current and current > epoch then return current end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return epoch`;

type AccessCheck = { sid: string; jti: string; sub: string; cep: number };

/** Session, revoked-token marker and the user's credential epoch, in this order. */
const accessKeys = (claims: AccessCheck): string[] => [sessionKey(claims.sid), revokedJtiKey(claims.jti), epochKey(claims.sub)];

/** The verdict on the values of `accessKeys`: session alive, token not revoked, issued under the current epoch. */
function accessFrom(claims: AccessCheck, [session, revoked, epoch]: (string | null | undefined)[]): boolean {
  return session != null && revoked == null && epoch != null && Number(epoch) === claims.cep;
}

export function sessionStore(redis: Redis, ttl: { refreshMs: number; sessionMs: number }) {
  async function mintRefreshToken(session: Session): Promise<string> {
    // The session id rides in the token so a replayed token can be traced to its session (family).
    const token = `${session.sid}.${randomBytes(32).toString('base64url')}`;
    const ttlMs = Math.min(ttl.refreshMs, session.expires_at - Date.now());
    await redis.set(refreshKey(token), JSON.stringify({ sid: session.sid }), 'PX', Math.max(ttlMs, 1));
    return token;
  }

  /**
   * Publishes the user's current epoch. Every session ends within SESSION_TTL of its login, so a key set
   * (or refreshed) SESSION_TTL from now outlives all sessions that could still present it.
   */
  async function publishEpoch(userId: string, epoch: number): Promise<void> {
    await redis.eval(RAISE_EPOCH, 1, epochKey(userId), String(epoch), String(ttl.sessionMs));
  }

  return {
    publishEpoch,

    async start(user: { id: string; tenant_id: string; role: Role; epoch: number }): Promise<{ session: Session; refreshToken: string }> {
      const session: Session = {
        sid: randomUUID(),
        user_id: user.id,
        tenant_id: user.tenant_id,
        role: user.role,
        epoch: user.epoch,
        expires_at: Date.now() + ttl.sessionMs,
      };
      await publishEpoch(user.id, user.epoch);
      await redis.set(sessionKey(session.sid), JSON.stringify(session), 'PX', ttl.sessionMs);
      return { session, refreshToken: await mintRefreshToken(session) };
    },

    /**
     * Spends `token` and returns the session with a fresh refresh token. `recheck` re-reads the user and
     * returns the session as it stands now (its role may have changed), or null when the user may no longer
     * hold it: the session then ends and the refresh is a 401.
     */
    async rotate(token: string, recheck: (session: Session) => Promise<Session | null>): Promise<{ session: Session; refreshToken: string }> {
      const sid = token.split('.')[0] ?? '';
      const [peeked = null, raw = null] = await redis.mget(refreshKey(token), sessionKey(sid));
      if (peeked === null) throw new DeskflowError('unauthenticated', 'invalid or expired refresh token');
      // The user is re-read before the token is spent: should that fail (database down), the client can retry
      // with the same token instead of tripping the reuse detection below.
      const current = raw !== null && !(JSON.parse(peeked) as { spent?: boolean }).spent ? await recheck(JSON.parse(raw) as Session) : null;
      // SET … GET marks the token spent and returns what it was, atomically.
      const previous = await redis.set(refreshKey(token), JSON.stringify({ sid, spent: true }), 'KEEPTTL', 'XX', 'GET');
      if (previous === null) throw new DeskflowError('unauthenticated', 'invalid or expired refresh token');
      const record = JSON.parse(previous) as { sid?: string; spent?: boolean };
      if (record.spent || record.sid !== sid) {
        // A spent token came back: it was stolen or replayed. End its session, i.e. the whole family.
        await redis.del(sessionKey(sid));
        throw new DeskflowError('unauthenticated', 'refresh token reuse detected; the session is revoked', { reason: 'refresh_token_reused' });
      }
      if (!current) {
        await redis.del(sessionKey(sid));
        throw new DeskflowError('unauthenticated', 'the session has ended; log in again', { reason: 'session_ended' });
      }
      if (current.role !== (JSON.parse(raw!) as Session).role) await redis.set(sessionKey(sid), JSON.stringify(current), 'KEEPTTL', 'XX');
      await publishEpoch(current.user_id, current.epoch ?? 0);
      return { session: current, refreshToken: await mintRefreshToken(current) };
    },

    async end(sid: string): Promise<void> {
      await redis.del(sessionKey(sid));
    },

    /** Revokes one access token until it would have expired anyway. */
    async revokeAccessToken(jti: string, expSeconds: number): Promise<void> {
      const ttl = expSeconds * 1000 - Date.now();
      if (ttl > 0) await redis.set(revokedJtiKey(jti), '1', 'PX', ttl);
    },

    /**
     * One round trip: is the session alive, the access token not revoked, and was it issued under the
     * user's current credential epoch? A missing epoch fails closed (the client refreshes, which republishes it).
     */
    async accessAllowed(claims: AccessCheck): Promise<boolean> {
      return accessFrom(claims, await redis.mget(...accessKeys(claims)));
    },

    /** The keys `accessAllowed` reads, for a caller that reads them in a Redis call of its own (then `accessFrom`). */
    accessKeys,
    accessFrom,
  };
}
export type SessionStore = ReturnType<typeof sessionStore>;
