/**
 * Standard Webhooks signatures: `webhook-signature` is a space-separated list of `v1,<base64 HMAC-SHA256>` over
 * `${webhook-id}.${webhook-timestamp}.${body}`, one per valid secret (two while a rotated secret's overlap lasts).
 * The key is the base64-decoded part of the secret after `whsec_`.
 */
import { createHmac } from 'node:crypto';

const PREFIX = 'whsec_';

export function secretKey(secret: string): Buffer {
  if (!secret.startsWith(PREFIX)) throw new Error('a webhook secret starts with whsec_');
  const key = Buffer.from(secret.slice(PREFIX.length), 'base64');
  if (key.length < 16) throw new Error('a webhook secret holds at least 16 bytes');
  return key;
}

export function signatureOf(secret: string, id: string, timestamp: number, body: string): string {
  return `v1,${createHmac('sha256', secretKey(secret)).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

export interface SignedHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/** The three headers of one attempt: `timestamp` is fresh per attempt, `id` the same on every one. */
export function signWebhook(input: { id: string; timestamp: number; body: string; secrets: string[] }): SignedHeaders {
  if (input.secrets.length === 0) throw new Error('no secret to sign with');
  return {
    'webhook-id': input.id,
    'webhook-timestamp': String(input.timestamp),
    'webhook-signature': input.secrets.map((s) => signatureOf(s, input.id, input.timestamp, input.body)).join(' '),
  };
}
