/**
 * Who is on a live connection: the credential of its upgrade (Authorization header or `bearer.<token>` subprotocol) or
 * of its `auth` message, checked as the REST API checks it (access token + session, or API key under the same
 * per-address budget of failures), and checked again while the connection lasts. Tokens are never logged.
 */
import type { IncomingMessage } from 'node:http';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { ROLE_SCOPES, type Scope } from '../../domain/auth';
import { DeskflowError } from '../../domain/errors';
import type { Identity } from '../../domain/identity';
import { LIVE_CLOSE } from '../../domain/live';
import { looksLikeApiKey } from '../../platform/api-keys';
import type { Config } from '../../platform/config';
import { createFieldCrypto } from '../../platform/field-crypto';
import { apiKeyStore } from '../../stores/api-keys';
import { apiKeyVerifier } from '../auth/authenticate';
import { sessionStore } from '../auth/sessions';
import { SigningKeyRing } from '../auth/signing-keys';
import { type AccessClaims, accessTokens } from '../auth/tokens';
import { rateLimiters } from '../http/rate-limit';

const BEARER_PROTOCOL = 'bearer.';

export interface Authenticated {
  identity: Identity;
  /** Access-token claims (users); null for API keys. */
  claims: AccessClaims | null;
  /** The API key itself, checked again at every recheck (kept in memory only). */
  apiKey: string | null;
}

/** A refusal: the close code on a socket, the status on an upgrade. */
export class LiveError extends Error {
  constructor(
    readonly code: number,
    message: string,
    /** The status when refused on the upgrade, before any socket. */
    readonly httpStatus = 401,
  ) {
    super(message);
  }
}

/** Allowed browser origins: the API's own (same host) and CORS_ORIGINS. A client without Origin is not a browser. */
export function originAllowed(req: IncomingMessage, allowed: Set<string>): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  if (allowed.has(origin)) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

/** The client's address, as Express's `trust proxy` with a hop count reads it (per-source budgets). */
export function sourceOf(req: IncomingMessage, trustedProxies: number): string {
  const peer = req.socket.remoteAddress ?? 'unknown';
  if (trustedProxies <= 0) return peer;
  const chain = [
    ...String(req.headers['x-forwarded-for'] ?? '')
      .split(',')
      .map((a) => a.trim())
      .filter(Boolean),
    peer,
  ];
  return chain[Math.max(0, chain.length - 1 - trustedProxies)] ?? peer;
}

/** The bearer token of an upgrade (header or subprotocol), if any; never logged. */
export function upgradeToken(req: IncomingMessage): string | null {
  const header = /^Bearer ([\x21-\x7e]{1,4096})$/.exec(req.headers.authorization ?? '');
  if (header) return header[1]!;
  const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  const bearer = offered.find((p) => p.startsWith(BEARER_PROTOCOL));
  return bearer ? bearer.slice(BEARER_PROTOCOL.length) || null : null;
}

export function liveCredentials(deps: { config: Config; pool: pg.Pool; redis: Redis }) {
  const { config, redis } = deps;
  const keys = new SigningKeyRing(deps.pool, createFieldCrypto(config), config.SIGNING_KEY_ROTATION);
  const tokens = accessTokens(keys, { issuer: config.JWT_ISSUER, ttlMs: config.ACCESS_TOKEN_TTL });
  const sessions = sessionStore(redis, { refreshMs: config.REFRESH_TOKEN_TTL, sessionMs: config.SESSION_TTL });
  const verifyApiKey = apiKeyVerifier(apiKeyStore(deps.pool));
  const apiKeyFailures = rateLimiters(redis).failures({
    name: 'api-key-failures-ip',
    points: config.API_KEY_FAILURES_PER_IP,
    windowSec: Math.ceil(config.LOGIN_WINDOW / 1000),
  });

  async function authenticate(token: string, source: string): Promise<Authenticated> {
    try {
      if (looksLikeApiKey(token)) {
        // The same per-source budget of failed API-key authentications as the REST API (no guessing over sockets).
        if ((await apiKeyFailures.count(source)) >= config.API_KEY_FAILURES_PER_IP)
          throw new LiveError(LIVE_CLOSE.unauthenticated, 'too many failed API-key authentications from this address; try later', 429);
        return {
          identity: await verifyApiKey(token).catch(async (err) => {
            if (err instanceof DeskflowError && err.code === 'unauthenticated') await apiKeyFailures.record(source);
            throw err;
          }),
          claims: null,
          apiKey: token,
        };
      }
      const claims = await tokens.verify(token);
      if (!(await sessions.accessAllowed(claims))) throw new LiveError(LIVE_CLOSE.revoked, 'the session has ended or the token was revoked');
      const identity: Identity = {
        tenantId: claims.tid,
        actor: { type: 'agent', id: claims.sub },
        scopes: new Set<Scope>(ROLE_SCOPES[claims.role]),
        credential: { kind: 'user', userId: claims.sub, role: claims.role, sessionId: claims.sid, jti: claims.jti, exp: claims.exp },
      };
      return { identity, claims, apiKey: null };
    } catch (err) {
      if (err instanceof LiveError) throw err;
      if (err instanceof DeskflowError && err.code === 'unauthenticated') throw new LiveError(LIVE_CLOSE.unauthenticated, err.message);
      throw err;
    }
  }

  /** Still allowed to listen? (session alive, token not revoked, access unchanged; an API key not revoked) */
  async function stillValid(auth: Authenticated): Promise<boolean> {
    if (auth.apiKey)
      return verifyApiKey(auth.apiKey).then(
        () => true,
        (err) => (err instanceof DeskflowError && err.code === 'unauthenticated' ? false : Promise.reject(err)),
      );
    return sessions.accessAllowed(auth.claims!);
  }

  return { authenticate, stillValid };
}
