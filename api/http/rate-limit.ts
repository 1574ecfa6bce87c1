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

/**
 * One point spent, as RateLimiterRedis spends it (same key, same fixed window: the counter is created with the
 * window's expiry, incremented, its time to live read), then a GET of each further key, in one script: the
 * authenticated hot path spends its credential's budget and reads its session state in one Redis call.
 */
const SPEND_AND_READ = `
redis.call('SET', KEYS[1], 0, 'EX', ARGV[1], 'NX')
local consumed = redis.call('INCRBY', KEYS[1], 1)
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -1 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  ttl = 1000 * tonumber(ARGV[1])
end
local out = { consumed, ttl }
for i = 2, #KEYS do out[i + 1] = redis.call('GET', KEYS[i]) end
return out`;

type SpendAndRead = (numKeys: number, ...keysAndArgs: string[]) => Promise<[number, number, ...(string | null)[]]>;

export function rateLimiters(redis: Redis) {
  if (!(redis as unknown as { deskflowSpendAndRead?: unknown }).deskflowSpendAndRead) {
    redis.defineCommand('deskflowSpendAndRead', { lua: SPEND_AND_READ }); // EVALSHA, EVAL only when the script is not cached yet
  }
  const spendAndRead = (redis as unknown as { deskflowSpendAndRead: SpendAndRead }).deskflowSpendAndRead.bind(redis);

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

    /**
     * As `consume`, and the values of `reads` (GET each) from the same Redis call. Nothing is applied yet: the
     * caller judges the values first, then `apply(res)` sets the headers and throws the 429 when exhausted.
     */
    async consumeAndRead(limit: Limit, key: string, reads: string[]): Promise<{ values: (string | null)[]; apply(res: Response): void }> {
      // The key RateLimiterRedis uses for the same limit (`${keyPrefix}:${key}`), so both spend one budget.
      const [consumed, ttl, ...values] = await spendAndRead(1 + reads.length, `rl:${limit.name}:${key}`, ...reads, String(limit.windowSec));
      const state = new RateLimiterRes(Math.max(limit.points - consumed, 0), ttl, consumed, consumed === 1);
      return {
        values,
        apply(res) {
          if (consumed > limit.points) refuse(res, limit, state);
          setHeaders(res, limit, state);
        },
      };
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
  const limitOf = async (who: Identity): Promise<{ limit: Limit; key: string }> => {
    const c = who.credential;
    const key = c.kind === 'api_key' ? `key:${c.keyId}` : c.kind === 'user' ? `user:${c.userId}` : `${c.kind}:${who.tenantId}`;
    const perMin = (c.kind === 'api_key' ? c.rateLimitPerMin : null) ?? (await tenantLimit(who.tenantId)) ?? defaultPerMin;
    return { limit: { name: 'default', points: perMin, windowSec: 60 }, key };
  };
  return {
    /** Spends one request of the credential's budget (throws a 429 problem when exhausted). */
    async spend(who: Identity, res: Response): Promise<void> {
      const { limit, key } = await limitOf(who);
      await limiters.consume(res, limit, key);
    },
    /** As `spend`, reading `reads` in the same Redis call; see RateLimiters.consumeAndRead. */
    async spendAndRead(who: Identity, reads: string[]): Promise<{ values: (string | null)[]; apply(res: Response): void }> {
      const { limit, key } = await limitOf(who);
      return limiters.consumeAndRead(limit, key, reads);
    },
  };
}
export type CredentialRateLimit = ReturnType<typeof credentialRateLimit>;
