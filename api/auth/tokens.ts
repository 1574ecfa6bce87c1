/** Access tokens: short-lived ES256 JWTs with a `kid`, bound to a session (`sid`) and revocable by `jti`. */
import { randomUUID } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { Role } from '../../domain/auth';
import { DeskflowError } from '../../domain/errors';
import type { Session } from './sessions';
import type { SigningKeyRing } from './signing-keys';

export const AUDIENCE = 'deskflow-api';

export interface AccessClaims {
  sub: string;
  tid: string;
  role: Role;
  sid: string;
  jti: string;
  exp: number;
  /** The user's credential epoch when the token was issued (0 for tokens from before epochs existed). */
  cep: number;
}

const VERIFIED_CACHE_SIZE = 10_000;

export function accessTokens(keys: SigningKeyRing, opts: { issuer: string; ttlMs: number }) {
  // Signature checks are pure CPU and an agent's UI repeats its token on every call: remember tokens
  // already verified until they expire. Revocation is still checked per request (sessions.accessAllowed).
  const verified = new Map<string, AccessClaims>();
  const remember = (token: string, claims: AccessClaims) => {
    if (verified.size >= VERIFIED_CACHE_SIZE) verified.delete(verified.keys().next().value as string);
    verified.set(token, claims);
  };

  return {
    async issue(session: Session): Promise<{ token: string; expiresIn: number }> {
      const key = await keys.current();
      // Never outlive the session.
      const exp = Math.floor(Math.min(Date.now() + opts.ttlMs, session.expires_at) / 1000);
      const token = await new SignJWT({ tid: session.tenant_id, role: session.role, sid: session.sid, cep: session.epoch ?? 0 })
        .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'at+jwt' })
        .setIssuer(opts.issuer)
        .setAudience(AUDIENCE)
        .setSubject(session.user_id)
        .setJti(randomUUID())
        .setIssuedAt()
        .setExpirationTime(exp)
        .sign(key.privateKey);
      return { token, expiresIn: exp - Math.floor(Date.now() / 1000) };
    },

    async verify(token: string): Promise<AccessClaims> {
      const known = verified.get(token);
      if (known) {
        if (known.exp * 1000 > Date.now()) return known;
        verified.delete(token);
      }
      try {
        const { payload } = await jwtVerify(
          token,
          async (header) => {
            const key = await keys.verificationKey(header.kid);
            if (!key) throw new DeskflowError('unauthenticated', 'unknown signing key');
            return key;
          },
          { issuer: opts.issuer, audience: AUDIENCE, algorithms: ['ES256'], typ: 'at+jwt', requiredClaims: ['sub', 'jti', 'exp', 'iat'] },
        );
        const role = Role.safeParse(payload.role);
        const cep = payload.cep ?? 0;
        if (typeof payload.tid !== 'string' || typeof payload.sid !== 'string' || !role.success || !Number.isSafeInteger(cep)) {
          throw new DeskflowError('unauthenticated', 'malformed access token');
        }
        const claims = { sub: payload.sub!, tid: payload.tid, role: role.data, sid: payload.sid, jti: payload.jti!, exp: payload.exp!, cep: cep as number };
        remember(token, claims);
        return claims;
      } catch (err) {
        if (err instanceof DeskflowError) throw err;
        const expired = err instanceof joseErrors.JWTExpired;
        throw new DeskflowError('unauthenticated', expired ? 'access token expired' : 'invalid access token');
      }
    },
  };
}
export type AccessTokens = ReturnType<typeof accessTokens>;
