import { z } from 'zod';
import { LoginInput, RefreshInput, Role } from '../../domain/auth';
import { DeskflowError } from '../../domain/errors';
import { appendAudit } from '../../platform/audit';
import type { Config } from '../../platform/config';
import { withTenant } from '../../platform/tenant-db';
import { decoyHash, verifyPassword } from '../auth/passwords';
import type { SessionStore } from '../auth/sessions';
import type { SigningKeyRing } from '../auth/signing-keys';
import type { AccessTokens } from '../auth/tokens';
import type { RateLimiters } from '../http/rate-limit';
import type { RouteSpec } from '../http/route';
import { identityOf, parseBody } from '../request';
import type pg from 'pg';

const TokenPair = z.object({
  token_type: z.literal('Bearer'),
  access_token: z.string(),
  expires_in: z.number().int().describe('seconds'),
  refresh_token: z.string(),
  session_expires_at: z.string(),
});
const Jwks = z.object({ keys: z.array(z.record(z.string(), z.unknown())) });

export function authRoutes(deps: {
  pool: pg.Pool;
  config: Config;
  keys: SigningKeyRing;
  tokens: AccessTokens;
  sessions: SessionStore;
  limiters: RateLimiters;
}): RouteSpec[] {
  const { pool, config, tokens, sessions, limiters } = deps;
  const windowSec = Math.ceil(config.LOGIN_WINDOW / 1000);
  const tag = 'Authentication';

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
      method: 'post', path: '/api/v1/auth/login', tag, summary: 'Log in with email and password', auth: 'public',
      request: { body: LoginInput },
      responses: { 200: { description: 'Access and refresh tokens', body: TokenPair }, 401: { description: 'Wrong email or password' }, 429: { description: 'Too many attempts' } },
      handler: async (req, res) => {
        const input = parseBody(LoginInput, req);
        const email = input.email.trim().toLowerCase();
        // Brute force: per source address and per account, before any password work.
        await limiters.consume(res, { name: 'login-ip', points: config.LOGIN_ATTEMPTS_PER_IP, windowSec }, req.ip ?? 'unknown');
        await limiters.consume(res, { name: 'login-account', points: config.LOGIN_ATTEMPTS_PER_ACCOUNT, windowSec }, email);
        const { rows } = await pool.query('SELECT * FROM auth_find_user($1)', [email]);
        const user = rows[0] as { id: string; tenant_id: string; role: string; password_hash: string; active: boolean } | undefined;
        const ok = await verifyPassword(user?.password_hash ?? (await decoyHash()), input.password);
        if (!user || !ok || !user.active) throw new DeskflowError('unauthenticated', 'wrong email or password');
        const session = await sessions.start({ id: user.id, tenant_id: user.tenant_id, role: Role.parse(user.role) });
        await withTenant(pool, user.tenant_id, (db) =>
          appendAudit(db, {
            tenant_id: user.tenant_id, actor: { type: 'agent', id: user.id }, action: 'auth.login', entity_type: 'user', entity_id: user.id,
            after: { session_id: session.session.sid, ip: req.ip }, request_id: req.requestId,
          }),
        );
        res.json(await pair(session));
      },
    },
    {
      method: 'post', path: '/api/v1/auth/refresh', tag, summary: 'Exchange a refresh token for new tokens (the old one is spent)', auth: 'public',
      request: { body: RefreshInput },
      responses: {
        200: { description: 'New access and refresh tokens', body: TokenPair },
        401: { description: 'Invalid, expired or reused refresh token' },
        429: { description: 'Too many refreshes from this address' },
      },
      handler: async (req, res) => {
        const input = parseBody(RefreshInput, req);
        // Its own budget: an office refreshing tokens behind one address must not use up its logins.
        await limiters.consume(res, { name: 'refresh-ip', points: config.LOGIN_ATTEMPTS_PER_IP * 10, windowSec }, req.ip ?? 'unknown');
        res.json(await pair(await sessions.rotate(input.refresh_token)));
      },
    },
    {
      method: 'post', path: '/api/v1/auth/logout', tag, summary: 'End the session and revoke this access token', auth: 'bearer',
      responses: { 204: { description: 'Logged out' }, 422: { description: 'An API key has no session to end' } },
      handler: async (req, res) => {
        const who = identityOf(req);
        if (who.credential.kind !== 'user') throw new DeskflowError('rule_violation', 'API keys have no session; revoke the key instead');
        await sessions.end(who.credential.sessionId);
        await sessions.revokeAccessToken(who.credential.jti, who.credential.exp);
        await withTenant(pool, who.tenantId, (db) =>
          appendAudit(db, { tenant_id: who.tenantId, actor: who.actor, action: 'auth.logout', entity_type: 'user', entity_id: who.actor.id, request_id: req.requestId }),
        );
        res.status(204).end();
      },
    },
    {
      method: 'get', path: '/.well-known/jwks.json', tag, summary: 'Public keys that verify access tokens', auth: 'public',
      responses: { 200: { description: 'JSON Web Key Set', body: Jwks } },
      handler: async (_req, res) => {
        res.setHeader('Cache-Control', 'public, max-age=300');
        res.json(await deps.keys.jwks());
      },
    },
  ];
}
