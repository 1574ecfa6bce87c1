/**
 * Rate limits in Redis (rate-limiter-flexible), shared by every API process. Answers carry the IETF
 * `RateLimit-Policy` / `RateLimit` headers; a refusal is a 429 problem with `Retry-After`.
 */
import type { Response } from 'express';
import type { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { DeskflowError } from '../../domain/errors';
import type { Identity } from '../../domain/identity';

export interface Limit {
  name: string;
  points: number;
  windowSec: number;
}

export function rateLimiters(redis: Redis) {
  const limiters = new Map<string, RateLimiterRedis>();
  const limiterFor = (limit: Limit) => {
    const id = `${limit.name}:${limit.points}:${limit.windowSec}`;
    let limiter = limiters.get(id);
    if (!limiter) {
      limiter = new RateLimiterRedis({ storeClient: redis, keyPrefix: `rl:${limit.name}`, points: limit.points, duration: limit.windowSec });
      limiters.set(id, limiter);
    }
    return limiter;
  };

  return {
    /** Spends one point of `key` under `limit`; sets the headers; throws a 429 problem when exhausted. */
    async consume(res: Response, limit: Limit, key: string): Promise<void> {
      try {
        const state = await limiterFor(limit).consume(key);
        setHeaders(res, limit, state);
      } catch (err) {
        if (!(err instanceof RateLimiterRes)) throw err;
        refuse(res, limit, err);
      }
    },

    /** Gives `key` its whole budget back (e.g. after a successful login from that address). */
    async reset(limit: Limit, key: string): Promise<void> {
      await limiterFor(limit).delete(key);
    },

    /**
     * A budget that only failures spend: `check` refuses (429) once `limit.points` failures were recorded
     * within the window, before the caller does any costly work; `record` counts one failure.
     */
    failures(limit: Limit) {
      const limiter = limiterFor(limit);
      return {
        async check(res: Response, key: string): Promise<void> {
          const state = await limiter.get(key);
          if (state && state.consumedPoints >= limit.points) refuse(res, limit, state);
        },
        /** Failures recorded for `key` within the window. */
        async count(key: string): Promise<number> {
          return (await limiter.get(key))?.consumedPoints ?? 0;
        },
        async record(key: string): Promise<void> {
          await limiter.penalty(key, 1);
        },
      };
    },
  };
}

function refuse(res: Response, limit: Limit, state: RateLimiterRes): never {
  setHeaders(res, limit, state);
  const retryAfter = Math.max(1, Math.ceil(state.msBeforeNext / 1000));
  throw new DeskflowError('rate_limited', `rate limit of ${limit.points} requests per ${limit.windowSec} s exceeded`, { retry_after: retryAfter });
}
export type RateLimiters = ReturnType<typeof rateLimiters>;

function setHeaders(res: Response, limit: Limit, state: RateLimiterRes) {
  setItem(res, 'RateLimit-Policy', limit.name, `q=${limit.points};w=${limit.windowSec}`);
  setItem(res, 'RateLimit', limit.name, `r=${Math.max(0, state.remainingPoints)};t=${Math.ceil(state.msBeforeNext / 1000)}`);
}

/** Both headers are lists: a request under several limits (login: per address and per account) reports each. */
function setItem(res: Response, header: string, name: string, params: string) {
  const current = res.getHeader(header);
  const others = typeof current === 'string' ? current.split(/,\s*/).filter((item) => !item.startsWith(`"${name}";`)) : [];
  res.setHeader(header, [...others, `"${name}";${params}`].join(', '));
}

/** Per credential: the key's own limit, else its tenant's, else the default (RATE_LIMIT_PER_MIN). */
export function credentialRateLimit(limiters: RateLimiters, tenantLimit: (tenantId: string) => Promise<number | null>, defaultPerMin: number) {
  return async (who: Identity, res: Response): Promise<void> => {
    const c = who.credential;
    const credentialKey = c.kind === 'api_key' ? `key:${c.keyId}` : c.kind === 'user' ? `user:${c.userId}` : `${c.kind}:${who.tenantId}`;
    const perMin = (c.kind === 'api_key' ? c.rateLimitPerMin : null) ?? (await tenantLimit(who.tenantId)) ?? defaultPerMin;
    await limiters.consume(res, { name: 'default', points: perMin, windowSec: 60 }, credentialKey);
  };
}
