/**
 * Web sessions and refresh tokens, in Redis. A session lives SESSION_TTL from login, however often it is
 * refreshed. Refresh tokens are opaque, stored hashed, single-use: each refresh spends the presented
 * token and returns a new one; presenting a spent token revokes the whole session (token family).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Role } from '../../domain/auth';
import { DeskflowError } from '../../domain/errors';

export interface Session {
  sid: string;
  user_id: string;
  tenant_id: string;
  role: Role;
  expires_at: number; // epoch ms: the hard end of the session
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('base64url');
const sessionKey = (sid: string) => `sess:${sid}`;
const refreshKey = (token: string) => `rt:${sha256(token)}`;
const revokedJtiKey = (jti: string) => `jti:${jti}`;

export function sessionStore(redis: Redis, ttl: { refreshMs: number; sessionMs: number }) {
  async function mintRefreshToken(session: Session): Promise<string> {
    // The session id rides in the token so a replayed token can be traced to its session (family).
    const token = `${session.sid}.${randomBytes(32).toString('base64url')}`;
    const ttlMs = Math.min(ttl.refreshMs, session.expires_at - Date.now());
    await redis.set(refreshKey(token), JSON.stringify({ sid: session.sid }), 'PX', Math.max(ttlMs, 1));
    return token;
  }

  return {
    async start(user: { id: string; tenant_id: string; role: Role }): Promise<{ session: Session; refreshToken: string }> {
      const session: Session = { sid: randomUUID(), user_id: user.id, tenant_id: user.tenant_id, role: user.role, expires_at: Date.now() + ttl.sessionMs };
      await redis.set(sessionKey(session.sid), JSON.stringify(session), 'PX', ttl.sessionMs);
      return { session, refreshToken: await mintRefreshToken(session) };
    },

    /** Spends `token` and returns the session with a fresh refresh token. */
    async rotate(token: string): Promise<{ session: Session; refreshToken: string }> {
      const sid = token.split('.')[0] ?? '';
      // SET … GET marks the token spent and returns what it was, atomically.
      const previous = await redis.set(refreshKey(token), JSON.stringify({ sid, spent: true }), 'KEEPTTL', 'XX', 'GET');
      if (previous === null) throw new DeskflowError('unauthenticated', 'invalid or expired refresh token');
      const record = JSON.parse(previous) as { sid?: string; spent?: boolean };
      if (record.spent || record.sid !== sid) {
        // A spent token came back: it was stolen or replayed. End its session, i.e. the whole family.
        await redis.del(sessionKey(sid));
        throw new DeskflowError('unauthenticated', 'refresh token reuse detected; the session is revoked', { reason: 'refresh_token_reused' });
      }
      const raw = await redis.get(sessionKey(sid));
      if (raw === null) throw new DeskflowError('unauthenticated', 'the session has ended; log in again', { reason: 'session_ended' });
      const session = JSON.parse(raw) as Session;
      return { session, refreshToken: await mintRefreshToken(session) };
    },

    async end(sid: string): Promise<void> {
      await redis.del(sessionKey(sid));
    },

    /** Revokes one access token until it would have expired anyway. */
    async revokeAccessToken(jti: string, expSeconds: number): Promise<void> {
      const ttl = expSeconds * 1000 - Date.now();
      if (ttl > 0) await redis.set(revokedJtiKey(jti), '1', 'PX', ttl);
    },

    /** One round trip: is the session alive and the access token not revoked? */
    async accessAllowed(sid: string, jti: string): Promise<boolean> {
      const [session, revoked] = await redis.mget(sessionKey(sid), revokedJtiKey(jti));
      return session !== null && revoked === null;
    },
  };
}
export type SessionStore = ReturnType<typeof sessionStore>;
