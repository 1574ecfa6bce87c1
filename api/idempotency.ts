/**
 * Idempotency-Key for creating POSTs (kept IDEMPOTENCY_TTL, default 24 h, in Redis):
 * same key and body → the first response replayed; same key, other body → 422.
 * Keys belong to one credential (an API key, or a user for access tokens): another credential of the same
 * tenant using the same key gets its own request, never the first one's response (which may hold a secret).
 * The middleware runs after authentication and the route's scope check, so a replay is authorised like a first try.
 * The first request reserves a resource id, so a retry racing the first (or following a crash)
 * creates the same object rather than a second one.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Redis } from 'ioredis';
import { DeskflowError } from '../domain/errors';
import type { FieldCrypto } from '../platform/field-crypto';
import { REDIS_KEY_FAMILIES } from '../platform/redis-keys';
import { identityOf } from './request';
import type { Identity } from '../domain/identity';

interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}
interface IdempotencyRecord {
  fingerprint: string;
  resource_id: string;
  response?: StoredResponse;
}

const KEY_FORMAT = /^[\x21-\x7e]{1,255}$/;

/** Stored responses may hold PII or a freshly minted secret: they are kept encrypted. */
export function idempotency(redis: Redis, ttlMs: number, crypto: FieldCrypto): RequestHandler {
  const seal = (record: IdempotencyRecord) => crypto.encrypt(JSON.stringify(record));
  const open = (raw: string) => JSON.parse(crypto.decrypt(raw)) as IdempotencyRecord;

  return async (req: Request, res: Response, next: NextFunction) => {
    const key = req.headers['idempotency-key'];
    if (key === undefined) {
      req.resourceId = randomUUID();
      return next();
    }
    if (typeof key !== 'string' || !KEY_FORMAT.test(key)) {
      throw new DeskflowError('validation_failed', 'Idempotency-Key must be 1-255 printable ASCII characters');
    }
    const redisKey = `${REDIS_KEY_FAMILIES.idempotency}${identityOf(req).tenantId}:${credentialOf(identityOf(req))}:${key}`;
    const fingerprint = createHash('sha256')
      .update(`${req.method} ${req.baseUrl}${req.path}\n${canonicalJson(req.body)}`)
      .digest('base64url');

    const fresh: IdempotencyRecord = { fingerprint, resource_id: randomUUID() };
    const reserved = await redis.set(redisKey, seal(fresh), 'PX', ttlMs, 'NX');
    let record = fresh;
    if (reserved === null) {
      const raw = await redis.get(redisKey);
      if (raw === null) throw new DeskflowError('idempotency_in_progress', 'retry the request');
      record = open(raw);
      if (record.fingerprint !== fingerprint) {
        throw new DeskflowError('idempotency_key_reused', 'this Idempotency-Key was used with a different request');
      }
      if (record.response) {
        res.status(record.response.status).set(record.response.headers).set('Idempotent-Replayed', 'true');
        res.json(record.response.body);
        return;
      }
    }
    req.resourceId = record.resource_id;
    res.locals.idempotency = {
      /** Called by the route with its 2xx answer, before sending it. */
      async complete(response: StoredResponse) {
        await redis.set(redisKey, seal({ ...record, response }), 'PX', ttlMs);
      },
    };
    // A refused request (4xx) changed nothing: the key is freed so a corrected request can use it. A 5xx keeps
    // it (and its resource id): the change may be in flight on its workflow, and the retry must join it.
    res.on('finish', () => {
      if (res.statusCode >= 400 && res.statusCode < 500 && reserved !== null) void redis.del(redisKey).catch(() => undefined);
    });
    next();
  };
}

function credentialOf(who: Identity): string {
  const c = who.credential;
  return c.kind === 'api_key' ? `key:${c.keyId}` : c.kind === 'user' ? `user:${c.userId}` : `${c.kind}:${who.actor.id}`;
}

/** Sends a `201 Created` (or other 2xx), recording it for replay when the request carried an Idempotency-Key. */
export async function sendCreated(res: Response, response: StoredResponse): Promise<void> {
  const store = res.locals.idempotency as { complete(r: StoredResponse): Promise<void> } | undefined;
  await store?.complete(response);
  res.status(response.status).set(response.headers).json(response.body);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
