/**
 * Webhook delivery: one signed attempt (shared by the dispatcher and the backoff workflow's activity),
 * the dispatcher that makes every first attempt straight from the deliveries table, and the dead letter.
 *
 * The common case (receiver up) costs one claim, one POST and one commit: no workflow, no Temporal round
 * trip. Only a failed first attempt starts `webhookDeliveryWorkflow` (on the webhook task queue), which
 * sleeps durably between the retries, so a worker crash between two retries loses nothing.
 */
import type { LookupFunction } from 'node:net';
import { type Client, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { assertSafeWebhookUrl, pinnedLookup, type WebhookUrlPolicy } from '../platform/ssrf';
import { DeskflowError } from '../domain/errors';
import { nextDelayMs, parseRetryAfter, type RetryPolicy, retryPolicyFor, verdictOf } from '../domain/webhook-retry';
import { publishLiveNotice } from '../platform/live-bus';
import { poll } from '../platform/poller';
import { inSpanOf } from '../platform/tracing';
import type { FieldCrypto } from '../platform/field-crypto';
import type { Logger } from '../platform/logger';
import { postWebhook, type WebhookResponse } from '../platform/webhook-http';
import { signWebhook } from '../platform/webhook-signing';
import { groupCommit } from '../platform/group-commit';
import { workerMetrics } from './metrics';
import {
  type AttemptContext,
  type AttemptOutcome,
  type AttemptToRecord,
  type ClaimResult,
  type DeadLetter,
  webhookDeliveryStore,
  webhookIdOf,
} from '../stores/webhook-deliveries';
import { signingSecrets } from '../stores/webhook-endpoints';
import type { WebhookCircuitBreaker } from './webhook-circuit-breaker';
import {
  type AttemptResult,
  WEBHOOK_DELIVERY_WORKFLOW_TYPE,
  type WebhookDeliveryActivities,
  type WebhookDeliveryInput,
  webhookDeliveryStartOptions,
} from '../workflows/webhook-delivery-contract';

/** A delivery of a disabled endpoint is looked at again this often (it resumes once the endpoint is enabled). */
export const DISABLED_RECHECK_MS = 60_000;
/** A delivery waiting for an older one of its ticket is looked at again this often (it is woken when that one is done). */
const BLOCKED_RECHECK_MS = 5_000;
/** The most attempts recorded in one statement. */
const RECORD_BATCH = 64;
/** The dispatcher fetches and claims due deliveries once this many slots are free (fewer statements per delivery). */
const CLAIM_BATCH = 8;

export interface WebhookDeliveryDeps {
  pool: pg.Pool;
  redis?: Redis;
  crypto: FieldCrypto;
  timeoutMs: number;
  /** Resolves (and checks) the receiver's address; node's own by default. */
  lookup?: LookupFunction;
  /** Checked again before every attempt (a literal address never reaches `lookup`). */
  urlPolicy?: WebhookUrlPolicy;
  log?: Logger;
  /** The per-endpoint circuit breaker every attempt passes (absent: none). */
  breaker?: WebhookCircuitBreaker;
}

/** A live notification for the tenant's admins: after commit, at most once (the audit entry is the record). */
async function notifyDead(redis: Redis | undefined, dead: DeadLetter, reason: 'retries_exhausted' | 'gone'): Promise<void> {
  if (!redis) return;
  const data = {
    delivery_id: dead.id,
    endpoint_id: dead.endpoint_id,
    event_type: dead.event_type,
    attempts: dead.attempts,
    last_status: dead.last_status,
    last_error: dead.last_error,
    reason,
  };
  await publishLiveNotice(redis, dead.tenant_id, 'webhook.delivery_dead', data).catch(() => undefined);
}

/** The one attempt both paths make: sign with a fresh timestamp, POST the stored bytes, log the answer. */
export function webhookAttempts(deps: WebhookDeliveryDeps) {
  const store = webhookDeliveryStore(deps.pool);
  // Attempts answered while an earlier one of the tenant is being recorded are recorded together (one commit).
  const records = groupCommit<AttemptToRecord>((tenantId, batch) => store.recordAttempts(tenantId, batch), RECORD_BATCH);
  const record = (attempt: AttemptToRecord) => (attempt.outcome === 'gone' ? store.recordAttempt(attempt) : records.write(attempt.ctx.tenant_id, attempt));

  async function send(ctx: AttemptContext): Promise<WebhookResponse> {
    let secrets: string[];
    try {
      secrets = signingSecrets(deps.crypto, ctx.secret_enc, ctx.previous_secret_valid ? ctx.previous_secret_enc : null);
    } catch {
      // Nothing unsigned ever leaves; the failure is logged like any other and retried (a key may be restored).
      return { status: null, headers: null, bodyExcerpt: null, error: 'the endpoint secret cannot be read', durationMs: 0 };
    }
    let lookup = deps.lookup;
    if (deps.urlPolicy) {
      const checked = await assertSafeWebhookUrl(ctx.url, deps.urlPolicy).then(
        ({ addresses }) => ({ addresses }),
        (err: unknown) => ({ refusal: err instanceof DeskflowError ? `refused: ${err.message}` : `refused: ${String(err)}` }),
      );
      if ('refusal' in checked) return { status: null, headers: null, bodyExcerpt: null, error: checked.refusal, durationMs: 0 };
      // Connect to the addresses just checked: no second DNS query, no window for a rebinding answer.
      lookup = pinnedLookup(checked.addresses);
    }
    const signed = signWebhook({ id: webhookIdOf(ctx.id), timestamp: Math.floor(Date.now() / 1000), body: ctx.body, secrets });
    return postWebhook({ url: ctx.url, headers: { ...ctx.headers, ...signed }, body: ctx.body, timeoutMs: deps.timeoutMs, lookup });
  }

  /**
   * After a failure the next attempt's delay is computed here, where the answer's `Retry-After` is known, and
   * written with the attempt (the log shows when the next one is due); null when the retries are spent.
   */
  async function attempt(
    ctx: AttemptContext,
    policy: RetryPolicy,
    jitter: number,
  ): Promise<{ outcome: AttemptOutcome | 'held'; next_delay_ms: number | null }> {
    // Held while the endpoint's breaker is open: no request, no retry spent; released when it closes.
    const gate = deps.breaker ? await deps.breaker.gate(ctx) : 'send';
    if (gate === 'held') return { outcome: 'held', next_delay_ms: null };
    const response = await send(ctx);
    const verdict = verdictOf(response.status);
    const outcome: AttemptOutcome = verdict === 'retry' ? 'failed' : verdict;
    const retryAfter = parseRetryAfter(response.headers?.['retry-after'], Date.now());
    const next_delay_ms = outcome === 'failed' ? nextDelayMs(ctx.attempts + 1, policy, jitter, retryAfter) : null;
    await record({ ctx, response, outcome, nextAttemptInMs: next_delay_ms });
    workerMetrics.webhookAttempt(outcome);
    await deps.breaker?.observe(ctx, gate, outcome);
    if (outcome === 'gone') {
      workerMetrics.webhookDeadLetter('gone');
      await notifyDead(
        deps.redis,
        {
          id: ctx.id,
          tenant_id: ctx.tenant_id,
          endpoint_id: ctx.endpoint_id,
          event_type: ctx.event_type,
          attempts: ctx.attempts + 1,
          last_status: 410,
          last_error: null,
        },
        'gone',
      );
    }
    return { outcome, next_delay_ms };
  }

  return { store, attempt };
}

export function createWebhookDeliveryActivities(deps: WebhookDeliveryDeps): WebhookDeliveryActivities {
  const { store, attempt } = webhookAttempts(deps);
  return {
    async attemptWebhookDelivery({ tenant_id, delivery_id, policy, jitter, round = 0 }): Promise<AttemptResult> {
      const ctx = await store.context(tenant_id, delivery_id);
      // A later round (redriven or resumed since) belongs to a workflow of its own.
      if (!ctx || ctx.status === 'delivered' || ctx.status === 'dead' || ctx.round !== round)
        return { outcome: 'done', attempts: ctx?.attempts ?? 0, next_delay_ms: null };
      // Held by the circuit breaker (a repeated activity): its release starts a new round, this one ends.
      if (ctx.status === 'held') return { outcome: 'held', attempts: ctx.attempts, next_delay_ms: null };
      if (!ctx.enabled) {
        await store.park(tenant_id, delivery_id, DISABLED_RECHECK_MS, round);
        return { outcome: 'parked', attempts: ctx.attempts, next_delay_ms: null };
      }
      // Still `pending` when the dispatcher died between starting this workflow and handing the delivery over.
      if (ctx.status === 'pending') await store.markRetrying(tenant_id, delivery_id, round);
      const { outcome, next_delay_ms } = await attempt(ctx, policy, jitter);
      return { outcome, attempts: outcome === 'held' ? ctx.attempts : ctx.attempts + 1, next_delay_ms };
    },

    async deadLetterWebhookDelivery({ tenant_id, delivery_id, reason, round = 0 }) {
      const dead = await store.deadLetter(tenant_id, delivery_id, reason, round);
      if (dead) {
        workerMetrics.webhookDeadLetter('retries_exhausted');
        deps.log?.warn({ tenantId: tenant_id, deliveryId: delivery_id, endpointId: dead.endpoint_id }, 'webhook delivery dead-lettered');
        await notifyDead(deps.redis, dead, 'retries_exhausted');
      }
    },
  };
}

export interface DispatcherOptions extends WebhookDeliveryDeps {
  temporal: Client;
  log: Logger;
  /** Where the backoff workflows run. */
  taskQueue: string;
  policy: RetryPolicy;
  intervalMs: number;
  concurrency: number;
  perEndpoint: number;
}

/**
 * Polls for due deliveries and makes each first attempt directly; a failure hands the delivery to its backoff
 * workflow. Runs in every worker process: a claim is a row lock plus a lease, so two dispatchers never attempt
 * the same delivery at once, and a dispatcher that dies mid-attempt only delays that delivery by its lease.
 */
export function startWebhookDispatcher(options: DispatcherOptions): { stop(): Promise<void> } {
  const { temporal, log, taskQueue, policy, intervalMs, concurrency, perEndpoint } = options;
  const { store, attempt } = webhookAttempts(options);
  const lease = { leaseMs: options.timeoutMs + 30_000, disabledMs: DISABLED_RECHECK_MS, blockedMs: BLOCKED_RECHECK_MS };
  const inFlight = new Set<Promise<void>>();
  const perEndpointInFlight = new Map<string, number>();

  const handOver = async (tenantId: string, deliveryId: string, round: number, policy: RetryPolicy, firstDelayMs: number | null) => {
    // The round's own workflow: a start joins only a run of this round (this hand-over repeated), never a finishing
    // run of an earlier round, which would end without attempting the delivery again.
    const input: WebhookDeliveryInput = { tenant_id: tenantId, delivery_id: deliveryId, first_delay_ms: firstDelayMs, policy, round };
    await temporal.workflow.start(WEBHOOK_DELIVERY_WORKFLOW_TYPE, webhookDeliveryStartOptions(taskQueue, input)).catch((err: unknown) => {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    });
    // Only now: a crash before this leaves the delivery pending, and its next claim starts (joins) the workflow again.
    await store.markRetrying(tenantId, deliveryId, round);
  };

  /**
   * One claimed delivery: its first attempt (or, when it was attempted before, its hand-over to its workflow), in a
   * span of the trace of the change that produced its event; the hand-over carries it on to the backoff workflow.
   */
  const dispatch = (claim: ClaimResult & { context: AttemptContext }) =>
    inSpanOf(
      claim.context.trace_parent,
      'webhook dispatch',
      { 'deskflow.webhook_id': webhookIdOf(claim.id), 'deskflow.event_type': claim.context.event_type },
      () => dispatchNow(claim),
    );
  const dispatchNow = async (claim: ClaimResult & { context: AttemptContext }) => {
    const ctx = claim.context;
    const { tenant_id: tenantId, id: deliveryId } = ctx;
    perEndpointInFlight.set(claim.endpoint_id, (perEndpointInFlight.get(claim.endpoint_id) ?? 0) + 1);
    try {
      // Attempts already made: the hand-over to the workflow did not finish (or a parked or held delivery resumes).
      // The circuit breaker's probe is attempted at once instead: its answer decides whether the endpoint resumes.
      // The tenant's preset as of now; the backoff workflow keeps it for the rest of this round.
      const tenantPolicy = retryPolicyFor(ctx.retry_schedule, policy);
      if (claim.attempts > 0 && !claim.probe)
        return await handOver(tenantId, deliveryId, claim.round, tenantPolicy, nextDelayMs(claim.attempts, tenantPolicy, Math.random(), null));
      const { outcome, next_delay_ms } = await attempt(ctx, tenantPolicy, Math.random());
      if (outcome === 'failed') await handOver(tenantId, deliveryId, claim.round, tenantPolicy, next_delay_ms);
    } finally {
      const left = (perEndpointInFlight.get(claim.endpoint_id) ?? 1) - 1;
      if (left > 0) perEndpointInFlight.set(claim.endpoint_id, left);
      else perEndpointInFlight.delete(claim.endpoint_id);
    }
  };

  /**
   * Claims one tenant's share of a poll in one statement and starts their attempts; those over their endpoint's
   * concurrency bound are put off (one statement), to be claimed again after a poll interval.
   */
  const claimAndDispatch = async (tenantId: string, ids: string[], track: (task: Promise<void>) => void) => {
    const over: string[] = [];
    for (const claim of await store.claim(tenantId, ids, lease)) {
      if (!claim.claimed || !claim.context) continue;
      if ((perEndpointInFlight.get(claim.endpoint_id) ?? 0) >= perEndpoint) {
        over.push(claim.id);
        continue;
      }
      track(dispatch({ ...claim, context: claim.context }));
    }
    await store.defer(tenantId, over, intervalMs);
  };

  const dispatcher = poll(
    intervalMs,
    async (self) => {
      // While due deliveries fill every free slot, the next ones are fetched as soon as enough slots free (a batch
      // per claim statement), not a poll interval later: otherwise throughput is capped at `concurrency` per interval.
      let failed = false; // a failing dispatch (the database is down, say) waits for the next poll: no hot loop
      const track = (task: Promise<void>) => {
        const tracked = task
          .catch((err) => {
            failed = true;
            log.warn({ err }, 'webhook dispatch failed; the delivery is tried again after its lease');
          })
          .finally(() => inFlight.delete(tracked));
        inFlight.add(tracked);
      };
      while (!self.stopped && !failed) {
        const room = concurrency - inFlight.size;
        if (room < Math.min(CLAIM_BATCH, concurrency)) {
          await Promise.race(inFlight);
          continue;
        }
        const rows = await store.due(room);
        const byTenant = new Map<string, string[]>();
        for (const row of rows) byTenant.set(row.tenant_id, [...(byTenant.get(row.tenant_id) ?? []), row.id]);
        await Promise.all(
          [...byTenant].map(([tenantId, ids]) =>
            claimAndDispatch(tenantId, ids, track).catch((err) => {
              failed = true;
              log.warn({ err, tenantId }, 'webhook claim failed; its deliveries are tried again');
            }),
          ),
        );
        if (rows.length < room) return; // caught up: back to polling
        if (inFlight.size > 0) await Promise.race(inFlight);
      }
    },
    log,
    'webhook dispatcher',
  );
  return {
    async stop() {
      await dispatcher.stop();
      await Promise.allSettled([...inFlight]);
    },
  };
}
