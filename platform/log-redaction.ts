/**
 * Secrets and personal data never reach the logs: by field name (any depth) and, inside any logged text, by shape
 * (emails, bearer tokens, JWTs, API keys, refresh tokens, webhook secrets). A PostgreSQL error quoting an email, or
 * a header echoed in an error message, is censored as well as a field named `password`.
 */
export const CENSOR = '[redacted]';

/** Field names whose values are never logged (compared lower-cased, `-` as `_`). */
const SENSITIVE_KEYS = new Set([
  'authorization',
  'cookie',
  'set_cookie',
  'password',
  'password_hash',
  'new_password',
  'current_password',
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'api_key',
  'secret',
  'secrets',
  'client_secret',
  'inbound_secret',
  'signing_secret',
  'webhook_secret',
  'x_deskflow_signature',
  'webhook_signature',
  // Object storage credentials: the config's S3_SECRET_ACCESS_KEY and the AWS SDK's `secretAccessKey`/`sessionToken`.
  's3_secret_access_key',
  'secret_access_key',
  'aws_secret_access_key',
  'secretaccesskey',
  'session_token',
  'sessiontoken',
  'aws_session_token',
  'email',
  'email_address',
  'phone',
  'phone_number',
  'mobile',
  'body',
  'text',
  'description',
]);

const TEXT_PATTERNS: RegExp[] = [
  /Bearer\s+[\x21-\x7e]+/gi,
  /\beyJ[\w-]*\.[\w-]+\.[\w-]*/g, // JWT (header.payload.signature)
  /\bdfk_[A-Za-z0-9_-]{12}_[A-Za-z0-9_-]{43}\b/g, // Deskflow API key
  /\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.[A-Za-z0-9_-]{43}\b/gi, // refresh token (sid.secret)
  /\bwhsec_[A-Za-z0-9+/=_-]+/g, // webhook signing secret
  /\bX-Amz-(?:Signature|Security-Token|Credential)=[^&\s"']+/gi, // a pre-signed S3 URL grants access until it expires
  /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g, // email
];

const sensitiveKey = (key: string) => SENSITIVE_KEYS.has(key.toLowerCase().replaceAll('-', '_'));

export function redactText(text: string): string {
  let out = text;
  for (const pattern of TEXT_PATTERNS) out = out.replace(pattern, CENSOR);
  return out;
}

/** A copy of `value` with sensitive fields censored and sensitive shapes removed from its strings. */
export function redactValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (Array.isArray(value)) return value.map((v) => redactValue(v, depth + 1));
  if (value instanceof Date || Buffer.isBuffer(value)) return value;
  // An error stays an error (same prototype), so the logger's error serializer still names its type.
  const out: Record<string, unknown> = value instanceof Error ? Object.create(Object.getPrototypeOf(value)) : {};
  for (const [key, v] of Object.entries(value)) out[key] = sensitiveKey(key) && v != null ? CENSOR : redactValue(v, depth + 1);
  // Errors' message and stack are own non-enumerable properties: kept, censored.
  if (value instanceof Error) {
    out.message = redactText(value.message);
    if (value.stack) out.stack = redactText(value.stack);
    if ('cause' in value) out.cause = redactValue(value.cause, depth + 1);
  }
  return out;
}
