/**
 * How a webhook attempt's outcome is judged and when the next attempt is due. Pure: the delivery
 * workflow computes its delays here (with its own deterministic random), the dispatcher its outcomes.
 */
import { z } from 'zod';

/** 2xx delivered; 410 the receiver is gone for good (the endpoint is disabled); anything else is retried. */
export type AttemptVerdict = 'delivered' | 'gone' | 'retry';

export function verdictOf(status: number | null): AttemptVerdict {
  if (status !== null && status >= 200 && status < 300) return 'delivered';
  if (status === 410) return 'gone';
  return 'retry'; // 3xx (never followed), other codes, timeouts and network errors
}

/**
 * A `Retry-After` header (delay-seconds or an HTTP date) as milliseconds from `nowMs`; null when absent or
 * unreadable. Negative dates count as "now".
 */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | null {
  if (value === undefined) return null;
  const trimmed = value.trim();
  if (/^\d{1,10}$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at) || !/[a-z]/i.test(trimmed)) return null;
  return Math.max(0, at - nowMs);
}

export interface RetrySchedule {
  /** The first retry's delay. */
  baseMs: number;
  /** No delay (computed or asked for) exceeds this. */
  maxMs: number;
}

/** Up to this much is added to each computed delay, so receivers recovering from an outage are not hit in lockstep. */
export const RETRY_JITTER = 0.25;

/**
 * The delay before the next attempt, after `attemptsMade` attempts (1 after the first): base · 2^(n-1), plus
 * jitter from `random` (0 ≤ random < 1), and at least what the receiver asked for in `Retry-After`, all capped.
 */
export function retryDelayMs(attemptsMade: number, schedule: RetrySchedule, random: number, retryAfterMs: number | null = null): number {
  const exponent = Math.min(Math.max(attemptsMade - 1, 0), 30);
  const computed = schedule.baseMs * 2 ** exponent * (1 + RETRY_JITTER * random);
  const wanted = Math.max(computed, retryAfterMs ?? 0);
  return Math.round(Math.min(wanted, schedule.maxMs));
}

/** A delivery's retry policy, fixed when its backoff starts (a configuration change never alters a running schedule). */
export interface RetryPolicy {
  max_retries: number;
  base_delay_ms: number;
  max_delay_ms: number;
  /** An explicit schedule (the `extended` preset): the delay before each retry; `max_retries` is its length. */
  delays_ms?: number[];
}

/**
 * Per-tenant retry presets. `standard`: the configured exponential schedule (1 s, 2 s, 4 s by default: a
 * receiver that is down for more than seconds gets a dead letter and a redrive). `extended`: for tenants
 * whose receivers have maintenance windows — the Standard Webhooks style schedule, spread over about 3 days.
 */
export const WebhookRetrySchedule = z
  .enum(['standard', 'extended'])
  .describe('`standard`: the configured exponential schedule (1 s, 2 s, 4 s by default); `extended`: 9 retries over about 3 days');
export type WebhookRetrySchedule = z.infer<typeof WebhookRetrySchedule>;

const s = 1000;
const min = 60 * s;
const h = 60 * min;
/** 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h: the last retry about 76 h after the first attempt. */
export const EXTENDED_DELAYS_MS: readonly number[] = [5 * s, 5 * min, 30 * min, 2 * h, 5 * h, 10 * h, 14 * h, 20 * h, 24 * h];

/** The policy a tenant's deliveries follow, from its preset and the configured standard schedule. */
export function retryPolicyFor(schedule: WebhookRetrySchedule, standard: RetryPolicy): RetryPolicy {
  if (schedule === 'standard') return standard;
  return {
    max_retries: EXTENDED_DELAYS_MS.length,
    base_delay_ms: EXTENDED_DELAYS_MS[0]!,
    max_delay_ms: standard.max_delay_ms,
    delays_ms: [...EXTENDED_DELAYS_MS],
  };
}

/** The delay before the next attempt after `attemptsMade` failed ones, or null when the retries are spent (dead letter). */
export function nextDelayMs(attemptsMade: number, policy: RetryPolicy, random: number, retryAfterMs: number | null): number | null {
  if (attemptsMade >= 1 + policy.max_retries) return null;
  const scheduled = policy.delays_ms?.[attemptsMade - 1];
  if (scheduled !== undefined) {
    // An explicit schedule's own delays are never cut short by the cap; `Retry-After` may stretch one up to it.
    const computed = scheduled * (1 + RETRY_JITTER * random);
    return Math.round(Math.max(computed, Math.min(retryAfterMs ?? 0, policy.max_delay_ms)));
  }
  return retryDelayMs(attemptsMade, { baseMs: policy.base_delay_ms, maxMs: policy.max_delay_ms }, random, retryAfterMs);
}
