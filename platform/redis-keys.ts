/**
 * Key families in Redis (each under REDIS_KEY_PREFIX) that more than one part reads: the API writes them, the retention
 * sweep (stores/redis-retention.ts) bounds them. Named once here so neither can drift from the other.
 */
export const REDIS_KEY_FAMILIES = {
  /** `idem:<tenant>:<credential>:<key>`: an Idempotency-Key's record (api/idempotency.ts). */
  idempotency: 'idem:',
  /** `sess:<sid>`: a web session (api/auth/sessions.ts). */
  session: 'sess:',
  /** `rt:<sha256 of the token>`: a refresh token, `{ sid, spent? }`. */
  refreshToken: 'rt:',
} as const;
