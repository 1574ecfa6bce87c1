/**
 * Who is calling, and may they call now: `Authorization: Bearer <access JWT | API key>`. The tenant comes
 * from the credential, never from the request. Sets `req.identity`; anything missing or wrong is a 401;
 * then the credential's rate limit applies (429). For access tokens the session/revocation/credential-epoch
 * check and the rate-limit spend are one Redis call (one script): the spend happens whatever the verdict, as before,
 * and a refused token is a 401 before any 429.
 * Failed API-key authentications spend a per-source budget; once it is spent, API keys from that source are
 * refused (429) before any database look-up.
 */
import type { Request, RequestHandler, Response } from 'express';
import { ROLE_SCOPES, type Scope, SCOPES } from '../../domain/auth';
import { DeskflowError } from '../../domain/errors';
import { looksLikeApiKey, parseApiKey, secretMatches } from '../../platform/api-keys';
import type { ApiKeyStore } from '../../stores/api-keys';
import { requestContext } from '../../platform/request-context';
import type { Identity } from '../../domain/identity';
import type { CredentialRateLimit } from '../http/rate-limit';
import type { SessionStore } from './sessions';
import type { AccessTokens } from './tokens';

const BEARER = /^Bearer ([\x21-\x7e]{1,4096})$/;
// One read-only set per role, shared by every request of that role (Identity.scopes is a ReadonlySet).
const ROLE_SCOPE_SETS: Record<keyof typeof ROLE_SCOPES, ReadonlySet<Scope>> = {
  admin: new Set(ROLE_SCOPES.admin),
  agent: new Set(ROLE_SCOPES.agent),
};
const TOUCH_EVERY_MS = 60_000;

/** An API key's identity (401 for a malformed, unknown or revoked key); last use recorded to the minute. */
export function apiKeyVerifier(apiKeys: Pick<ApiKeyStore, 'findForAuth' | 'touch'>): (token: string) => Promise<Identity> {
  const lastTouched = new Map<string, number>();
  return async function verifyApiKey(token: string): Promise<Identity> {
    const parsed = parseApiKey(token);
    if (!parsed) throw new DeskflowError('unauthenticated', 'malformed API key');
    const key = await apiKeys.findForAuth(parsed.keyId);
    if (!key || key.revoked_at !== null || !secretMatches(parsed.secret, key.secret_hash)) {
      throw new DeskflowError('unauthenticated', 'invalid or revoked API key');
    }
    // last_used_at is kept to the minute: no write per request.
    const now = Date.now();
    if ((lastTouched.get(key.id) ?? 0) + TOUCH_EVERY_MS < now) {
      if (lastTouched.size > 10_000) lastTouched.clear(); // bounded: forgetting only means an earlier touch
      lastTouched.set(key.id, now);
      void apiKeys.touch(key.id).catch(() => lastTouched.delete(key.id));
    }
    return {
      tenantId: key.tenant_id,
      actor: { type: 'api_key' as const, id: key.id },
      scopes: new Set<Scope>(key.scopes.filter((s) => (SCOPES as readonly string[]).includes(s))),
      credential: { kind: 'api_key' as const, keyId: key.id, rateLimitPerMin: key.rate_limit_per_min },
    };
  };
}

export function authenticate(deps: {
  apiKeys: Pick<ApiKeyStore, 'findForAuth' | 'touch'>;
  tokens: AccessTokens;
  sessions: SessionStore;
  /** The identity's rate limit (a 429 problem when exhausted). */
  limit: CredentialRateLimit;
  /** Failed API-key authentications per source address (see RateLimiters.failures). */
  apiKeyFailures: { check(res: Response, source: string): Promise<void>; record(source: string): Promise<void> };
}): RequestHandler {
  const verifyApiKey = apiKeyVerifier(deps.apiKeys);

  async function apiKeyIdentity(token: string, req: Request, res: Response): Promise<Identity> {
    const source = req.ip ?? 'unknown';
    await deps.apiKeyFailures.check(res, source).catch((err) => {
      throw Object.assign(err as Error, { afterAuthentication: true });
    });
    try {
      return await verifyApiKey(token);
    } catch (err) {
      if (err instanceof DeskflowError && err.code === 'unauthenticated') await deps.apiKeyFailures.record(source);
      throw err;
    }
  }

  async function userIdentity(token: string, res: Response): Promise<Identity> {
    const claims = await deps.tokens.verify(token);
    const identity: Identity = {
      tenantId: claims.tid,
      actor: { type: 'agent', id: claims.sub },
      scopes: ROLE_SCOPE_SETS[claims.role],
      credential: { kind: 'user', userId: claims.sub, role: claims.role, sessionId: claims.sid, jti: claims.jti, exp: claims.exp },
    };
    const { values, apply } = await deps.limit.spendAndRead(identity, deps.sessions.accessKeys(claims));
    if (!deps.sessions.accessFrom(claims, values))
      throw new DeskflowError('unauthenticated', 'the session has ended, the token was revoked, or the access of its user has changed since it was issued');
    try {
      apply(res);
    } catch (err) {
      throw Object.assign(err as Error, { afterAuthentication: true });
    }
    return identity;
  }

  return async (req, res, next) => {
    // What a credential reads (and any token-bearing answer) must not be kept by browsers or shared caches.
    res.setHeader('Cache-Control', 'no-store');
    const match = BEARER.exec(req.headers.authorization ?? '');
    if (!match) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="deskflow"');
      throw new DeskflowError('unauthenticated', 'send Authorization: Bearer <access token or API key>');
    }
    const token = match[1]!;
    try {
      if (looksLikeApiKey(token)) {
        req.identity = await apiKeyIdentity(token, req, res);
        await deps.limit.spend(req.identity, res).catch((err) => {
          throw Object.assign(err as Error, { afterAuthentication: true });
        });
      } else {
        req.identity = await userIdentity(token, res);
      }
      requestContext.identify(req.identity.tenantId, req.identity.actor);
    } catch (err) {
      // A rate-limit refusal is not an authentication failure: no WWW-Authenticate challenge for it.
      if (!(err as { afterAuthentication?: boolean }).afterAuthentication) {
        res.setHeader('WWW-Authenticate', 'Bearer realm="deskflow", error="invalid_token"');
      }
      throw err;
    }
    next();
  };
}

export function requireScope(scope: Scope): RequestHandler {
  return (req, _res, next) => {
    if (!req.identity?.scopes.has(scope)) throw new DeskflowError('forbidden', `this credential lacks the ${scope} scope`, { required_scope: scope });
    next();
  };
}
