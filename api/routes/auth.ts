import { z } from 'zod';
import { setTimeout as sleep } from 'node:timers/promises';
import { LoginInput, RefreshInput, Role } from '../../domain/auth';
import { DeskflowError } from '../../domain/errors';
import type { Config } from '../../platform/config';
import { decoyHash, verifyPassword } from '../../platform/passwords';
import type { Session, SessionStore } from '../auth/sessions';
import type { SigningKeyRing } from '../auth/signing-keys';
import type { AccessTokens } from '../auth/tokens';
import type { RateLimiters } from '../http/rate-limit';
import type { RouteSpec } from '../http/route';
import { identityOf, parseBody } from '../request';
import type { AuditStore } from '../../stores/audit';
import type { LoginCandidate, UserStore } from '../../stores/users';

const TokenPair = z.object({
  token_type: z.literal('Bearer'),
  access_token: z.string(),
  expires_in: z.number().int().describe('seconds'),
  refresh_token: z.string(),
  session_expires_at: z.string(),
});

/** The slow-down for an account with `failures` recent failures: none up to `free`, then 100 ms doubling, capped. */
export const slowdownMs = (failures: number, free: number, maxMs: number) => (failures < free ? 0 : Math.min(maxMs, 100 * 2 ** Math.min(failures - free, 20)));

const Jwks = z.object({ keys: z.array(z.record(z.string(), z.unknown())) });

export function authRoutes(deps: {
  users: Pick<UserStore, 'loginCandidates' | 'credentialState'>;
  audit: AuditStore;
  config: Config;
  keys: SigningKeyRing;
  tokens: AccessTokens;
  sessions: SessionStore;
  limiters: RateLimiters;
}): RouteSpec[] {
  const { users, audit, config, tokens, sessions, limiters } = deps;
  const windowSec = Math.ceil(config.LOGIN_WINDOW / 1000);
  const tag = 'Authentication';
  const perIp = { name: 'login-ip', points: config.LOGIN_ATTEMPTS_PER_IP, windowSec };
  const perAccountAndIp = { name: 'login-account-ip', points: config.LOGIN_ATTEMPTS_PER_ACCOUNT, windowSec };
  const accountFailures = limiters.failures({ name: 'login-account-failures', points: config.LOGIN_ATTEMPTS_PER_ACCOUNT, windowSec });

  /** Re-reads the session's user: gone, deactivated or a raised credential epoch ends the session. */
  const recheck = async (session: Session): Promise<Session | null> => {
    const user = await users.credentialState(session.tenant_id, session.user_id);
    if (!user?.active || user.credential_epoch !== (session.epoch ?? 0)) return null;
    return { ...session, role: Role.parse(user.role) };
  };

  const pair = async (session: Awaited<ReturnType<SessionStore['start']>>) => {
    const access = await tokens.issue(session.session);
    return {
      token_type: 'Bearer' as const,
      access_token: access.token,
      expires_in: access.expiresIn,
      refresh_token: session.refreshToken,
      session_expires_at: new Date(session.session.expires_at).toISOString(),
    };
  };

  return [
    {
      method: 'post',
      path: '/api/v1/auth/login',
      tag,
      auth: 'public',
      summary: 'Log in with email and password (and tenant_id when the email and password fit accounts in several tenants)',
      request: { body: LoginInput },
      responses: {
        200: { description: 'Access and refresh tokens', body: TokenPair },
        401: { description: 'Wrong email or password' },
        422: { description: 'The email and password fit accounts in several tenants: send tenant_id (code tenant_required)' },
        429: { description: 'Too many attempts' },
      },
      handler: async (req, res) => {
        res.setHeader('Cache-Control', 'no-store');
        const input = parseBody(LoginInput, req);
        const email = input.email.trim().toLowerCase();
        const source = req.ip ?? 'unknown';
        // Brute force, before any password work: per source address, and per account from that address (a
        // lock-out there locks out only the guesser). Account-wide, failures slow attempts down instead, so
        // guessing from many addresses gets slower without locking the owner out.
        await limiters.consume(res, perIp, source);
        await limiters.consume(res, perAccountAndIp, `${email}|${source}`);
        const delay = slowdownMs(await accountFailures.count(email), config.LOGIN_ATTEMPTS_PER_ACCOUNT, config.LOGIN_SLOWDOWN_MAX);
        if (delay > 0) await sleep(delay);

        const rows = await users.loginCandidates(email, input.tenant_id ?? null);
        // An email may have accounts in several tenants: the password picks the account. Only when it fits more
        // than one must the caller name the tenant; a wrong password is the same 401 however many there are.
        const matches: LoginCandidate[] = [];
        if (rows.length === 0) await verifyPassword(await decoyHash(), input.password);
        for (const candidate of rows) {
          if ((await verifyPassword(candidate.password_hash, input.password)) && candidate.active) matches.push(candidate);
          if (matches.length > 1) break;
        }
        if (matches.length === 0) {
          await accountFailures.record(email);
          throw new DeskflowError('unauthenticated', 'wrong email or password');
        }
        if (matches.length > 1) throw new DeskflowError('tenant_required', 'this email and password fit accounts in more than one tenant: send tenant_id');
        const user = matches[0]!;
        await limiters.reset(perAccountAndIp, `${email}|${source}`);
        const session = await sessions.start({ id: user.id, tenant_id: user.tenant_id, role: Role.parse(user.role), epoch: user.credential_epoch });
        await audit.record({
          tenant_id: user.tenant_id,
          actor: { type: 'agent', id: user.id },
          action: 'auth.login',
          entity_type: 'user',
          entity_id: user.id,
          after: { session_id: session.session.sid, ip: req.ip },
          request_id: req.requestId,
        });
        res.json(await pair(session));
      },
    },
    {
      method: 'post',
      path: '/api/v1/auth/refresh',
      tag,
      summary: 'Exchange a refresh token for new tokens (the old one is spent)',
      auth: 'public',
      request: { body: RefreshInput },
      responses: {
        200: { description: 'New access and refresh tokens', body: TokenPair },
        401: { description: 'Invalid, expired or reused refresh token' },
        429: { description: 'Too many refreshes from this address' },
      },
      handler: async (req, res) => {
        res.setHeader('Cache-Control', 'no-store');
        const input = parseBody(RefreshInput, req);
        // Its own budget: an office refreshing tokens behind one address must not use up its logins.
        await limiters.consume(res, { name: 'refresh-ip', points: config.LOGIN_ATTEMPTS_PER_IP * 10, windowSec }, req.ip ?? 'unknown');
        res.json(await pair(await sessions.rotate(input.refresh_token, recheck)));
      },
    },
    {
      method: 'post',
      path: '/api/v1/auth/logout',
      tag,
      summary: 'End the session and revoke this access token',
      auth: 'bearer',
      responses: { 204: { description: 'Logged out' }, 422: { description: 'An API key has no session to end' } },
      handler: async (req, res) => {
        const who = identityOf(req);
        if (who.credential.kind !== 'user') throw new DeskflowError('rule_violation', 'API keys have no session; revoke the key instead');
        await sessions.end(who.credential.sessionId);
        await sessions.revokeAccessToken(who.credential.jti, who.credential.exp);
        await audit.record({
          tenant_id: who.tenantId,
          actor: who.actor,
          action: 'auth.logout',
          entity_type: 'user',
          entity_id: who.actor.id,
          request_id: req.requestId,
        });
        res.status(204).end();
      },
    },
    {
      method: 'get',
      path: '/.well-known/jwks.json',
      tag,
      summary: 'Public keys that verify access tokens',
      auth: 'public',
      responses: { 200: { description: 'JSON Web Key Set', body: Jwks } },
      handler: async (_req, res) => {
        res.setHeader('Cache-Control', 'public, max-age=300');
        res.json(await deps.keys.jwks());
      },
    },
  ];
}
