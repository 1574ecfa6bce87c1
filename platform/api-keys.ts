/**
 * API keys for integrators: `dfk_<12-char key id>_<43-char secret>`. The prefix makes leaked keys easy to
 * spot (secret scanners); only sha256(secret) is stored — the secret has 256 bits, so no KDF is needed.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const FORMAT = /^dfk_([A-Za-z0-9_-]{12})_([A-Za-z0-9_-]{43})$/;

export const looksLikeApiKey = (token: string) => token.startsWith('dfk_');

export function mintApiKey(): { keyId: string; token: string; secretHash: string } {
  const keyId = randomBytes(9).toString('base64url');
  const secret = randomBytes(32).toString('base64url');
  return { keyId, token: `dfk_${keyId}_${secret}`, secretHash: hashSecret(secret) };
}

export function parseApiKey(token: string): { keyId: string; secret: string } | null {
  const m = FORMAT.exec(token);
  return m ? { keyId: m[1]!, secret: m[2]! } : null;
}

export function secretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

const hashSecret = (secret: string) => createHash('sha256').update(secret).digest('hex');

export const apiKeyPrefix = (keyId: string) => `dfk_${keyId}`;
