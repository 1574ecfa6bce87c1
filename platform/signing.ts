/**
 * Timestamped HMAC-SHA256 signatures of a payload, as one header value: `t=<unix seconds>,v1=<hex HMAC of
 * "<t>.<payload>">`. The time is signed with the payload and checked against a tolerance window, so a
 * captured request cannot be replayed later. Used for inbound email; anything signing or verifying raw
 * bytes with a shared secret can reuse it.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const DEFAULT_TOLERANCE_SEC = 300;

const mac = (secret: string, t: number, payload: string | Buffer) => createHmac('sha256', secret).update(`${t}.`).update(payload).digest();

export function signPayload(secret: string, payload: string | Buffer, t = Math.floor(Date.now() / 1000)): string {
  return `t=${t},v1=${mac(secret, t, payload).toString('hex')}`;
}

/** The signed time of a well-formed header, when it is within `toleranceSec` of now; else null (no MAC checked). */
function signedTime(header: string, toleranceSec: number, nowMs: number): { t: number; v1: string } | null {
  const parts = Object.fromEntries(header.split(',').map((p) => p.trim().split('=', 2) as [string, string]));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || Math.abs(nowMs / 1000 - t) > toleranceSec || !parts.v1 || !/^[0-9a-f]{64}$/i.test(parts.v1)) return null;
  return { t, v1: parts.v1 };
}

/**
 * Whether `header` could be a current signature (well formed, its time within the window): worth reading a large body
 * for. Says nothing about the MAC: `verifyPayload` decides.
 */
export function looksSigned(header: string | undefined, { toleranceSec = DEFAULT_TOLERANCE_SEC, nowMs = Date.now() } = {}): boolean {
  return typeof header === 'string' && signedTime(header, toleranceSec, nowMs) !== null;
}

/**
 * True when `header` is a signature of `payload` by one of `secrets` (several while a secret is being
 * rotated) made within `toleranceSec` of now, either side. Compared in constant time.
 */
export function verifyPayload(
  header: string | undefined,
  payload: string | Buffer,
  secrets: string | readonly string[],
  { toleranceSec = DEFAULT_TOLERANCE_SEC, nowMs = Date.now() }: { toleranceSec?: number; nowMs?: number } = {},
): boolean {
  if (typeof header !== 'string') return false;
  const signed = signedTime(header, toleranceSec, nowMs);
  if (signed === null) return false;
  const { t } = signed;
  const given = Buffer.from(signed.v1, 'hex');
  return (typeof secrets === 'string' ? [secrets] : secrets).some((secret) => {
    const expected = mac(secret, t, payload);
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}
