/**
 * Webhook deliveries: what the dispatcher claims, what every attempt records, the dead-letter and redrive
 * transitions, and the delivery log the API lists. One delivery per (event, endpoint); its id is the
 * `webhook-id` of every attempt.
 *
 * States: `pending` (the dispatcher's: due at next_attempt_at; a claimed one is leased (leased_until) past the
 * attempt's timeout, so a dispatcher that dies mid-attempt only delays it; a change of status ends a lease),
 * `retrying` (owned by its backoff workflow), `held` (the endpoint is paused or its circuit breaker is open: no
 * attempt is spent; released when it is enabled again or the breaker closes), `delivered`, `dead`.
 */
import type pg from 'pg';
import { SYSTEM_ACTOR } from '../domain/ticket-state-machine';
import type { BreakerState } from '../domain/circuit-breaker';
import type { DeliveryStatus } from '../domain/webhooks';
import type { WebhookRetrySchedule } from '../domain/webhook-retry';
import type { Identity } from '../domain/identity';
import type { Actor } from '../domain/ticket';
import { appendAudit } from '../platform/audit';
import { type Db, inTenantTransaction, withTenant } from '../platform/tenant-db';
import type { WebhookResponse } from '../platform/webhook-http';

/** The `webhook-id` header of a delivery (Standard Webhooks' `msg_` prefix). */
export const webhookIdOf = (deliveryId: string) => `msg_${deliveryId}`;

export interface DueDelivery {
  id: string;
  tenant_id: string;
}

export interface ClaimResult {
  id: string;
  claimed: boolean;
  attempts: number;
  endpoint_id: string;
  /** Released by the circuit breaker as its endpoint's probe: attempted at once, whatever it attempted before. */
  probe: boolean;
  /** The backoff round the delivery is in (names the workflow a hand-over starts). */
  round: number;
  /** Everything the attempt needs, when claimed. */
  context: AttemptContext | null;
}

/** Everything one attempt needs. */
export interface AttemptContext {
  id: string;
  tenant_id: string;
  status: DeliveryStatus;
  attempts: number;
  round: number;
  endpoint_id: string;
  ticket_id: string | null;
  event_seq: string;
  event_type: string;
  body: string;
  /** The traceparent of the change that produced the event (platform/tracing.ts); null when it was not traced. */
  trace_parent: string | null;
  url: string;
  headers: Record<string, string>;
  enabled: boolean;
  secret_enc: string;
  previous_secret_enc: string | null;
  previous_secret_valid: boolean;
  /** The tenant's retry preset: the policy a backoff starting now follows. */
  retry_schedule: WebhookRetrySchedule;
  /** The endpoint's circuit breaker, read with the rest (stores/webhook-circuit-breaker.ts). */
  breaker_state: BreakerState;
  breaker_retry_at: string | null;
  breaker_probe_delivery_id: string | null;
  breaker_probe_started_at: string | null;
}

export type AttemptOutcome = 'delivered' | 'gone' | 'failed';

export interface DeadLetter {
  id: string;
  tenant_id: string;
  endpoint_id: string;
  event_type: string;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
}

export interface DeliveryFilter {
  status?: DeliveryStatus;
  event_type?: string;
  /** ISO times on created_at: from inclusive, to exclusive. */
  from?: string;
  to?: string;
  /** Keyset: rows older than this (created_at, id). */
  before?: [string, string];
}

export interface DeliveryRecord {
  id: string;
  webhook_id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  ticket_id: string | null;
  status: DeliveryStatus;
  attempt_count: number;
  last_status: number | null;
  last_error: string | null;
  next_attempt_at: string | null;
  delivered_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface AttemptRecord {
  attempted_at: string;
  duration_ms: number;
  status_code: number | null;
  response_headers: Record<string, string> | null;
  response_body: string | null;
  error: string | null;
}

/**
 * Delivery paused for the delivery's tenant (`t`) or for all (migration 016): its deliveries are treated as those of a
 * disabled endpoint (kept pending, looked at again later), so a pause loses nothing and sends nothing.
 */
export const WEBHOOKS_PAUSED = '(t.webhooks_paused_at IS NOT NULL OR (SELECT g.paused_at IS NOT NULL FROM webhook_global_pause g))';

/** Lifting a pause: the deliveries it held back (kept pending, looked at again later) are due now; one tenant's ($1), or all. */
const RELEASE = "UPDATE webhook_deliveries SET next_attempt_at = now(), updated_at = now() WHERE status = 'pending' AND next_attempt_at > now()";
export const RELEASE_PAUSED = `${RELEASE} AND tenant_id = $1`;
export const RELEASE_ALL_PAUSED = RELEASE;

/** Everything one attempt needs, for the delivery whose id is `idExpr` (the tenant is $1). */
const contextOf = (idExpr: string) => `
SELECT d.id, d.tenant_id, d.status, d.attempts, d.round, d.endpoint_id, d.ticket_id, d.event_seq, d.event_type, ev.body, ev.trace_parent,
       e.url, e.headers, e.enabled AND NOT ${WEBHOOKS_PAUSED} AS enabled, e.secret_enc, e.previous_secret_enc,
       coalesce(e.previous_secret_expires_at > now(), false) AS previous_secret_valid,
       e.breaker_state, e.breaker_retry_at, e.breaker_probe_delivery_id, e.breaker_probe_started_at,
       t.webhook_retry_schedule AS retry_schedule
FROM webhook_deliveries d
JOIN webhook_events ev ON ev.seq = d.event_seq
JOIN webhook_endpoints e ON e.tenant_id = d.tenant_id AND e.id = d.endpoint_id
JOIN tenants t ON t.id = d.tenant_id
WHERE d.tenant_id = $1 AND d.id = ${idExpr}`;

/**
 * Claims a batch of one tenant's due deliveries in one statement (one plan, one commit for the batch). The lease
 * is its own column (leased_until, in no index): taking it is a HOT update (migration 015).
 */
const CLAIM = `
WITH d AS (
  SELECT d.id, e.enabled AND NOT ${WEBHOOKS_PAUSED} AS enabled, coalesce(e.breaker_probe_delivery_id = d.id, false) AS probe,
         EXISTS (SELECT 1 FROM webhook_deliveries o
                 WHERE o.endpoint_id = d.endpoint_id AND o.ticket_id = d.ticket_id AND o.event_seq < d.event_seq
                   AND o.status NOT IN ('delivered', 'dead')) AS blocked
  FROM webhook_deliveries d JOIN webhook_endpoints e ON e.tenant_id = d.tenant_id AND e.id = d.endpoint_id
  JOIN tenants t ON t.id = d.tenant_id
  WHERE d.tenant_id = $1 AND d.id = ANY($2::uuid[]) AND d.status = 'pending' AND d.next_attempt_at <= now()
    AND (d.leased_until IS NULL OR d.leased_until <= now())
  FOR NO KEY UPDATE OF d SKIP LOCKED
), async_commit AS (
  -- The lease need not wait for its WAL flush: lost in a crash, the delivery is only claimed again (at least once,
  -- as always). Its flush was half the commit waits of a delivery, the dispatcher's bound (bench/RESULTS.md, #10).
  SELECT set_config('synchronous_commit', 'off', true)
), claimed AS (
UPDATE webhook_deliveries w
SET leased_until = CASE WHEN d.enabled AND NOT d.blocked THEN now() + make_interval(secs => $3::float8 / 1000) END,
    next_attempt_at = CASE WHEN NOT d.enabled THEN now() + make_interval(secs => $4::float8 / 1000)
                           WHEN d.blocked THEN now() + make_interval(secs => $5::float8 / 1000)
                           ELSE w.next_attempt_at END,
    updated_at = now()
FROM d, async_commit WHERE w.tenant_id = $1 AND w.id = d.id
RETURNING w.id, w.attempts, w.round, w.endpoint_id, d.enabled, d.blocked, d.probe
)
-- What the attempt needs, read in the same statement (one round trip per delivery fewer): the snapshot is the
-- statement's, so these are the row's values before the lease, which changes no column read here.
SELECT claimed.id AS claim_id, claimed.attempts AS claim_attempts, claimed.round AS claim_round,
       claimed.endpoint_id AS claim_endpoint_id, claimed.enabled AS claim_enabled, claimed.blocked AS claim_blocked,
       claimed.probe AS claim_probe, ctx.*
FROM claimed LEFT JOIN LATERAL (${contextOf('claimed.id')}) ctx ON claimed.enabled AND NOT claimed.blocked`;

/**
 * recordAttempts for delivered or failed attempts of one tenant: the log rows, each delivery's counters and state,
 * and (once delivered) the wake-up of the next delivery of its endpoint and ticket (as `wakeSuccessor`), in one
 * statement. A successor is never in the batch: it waits (is not claimed) while its predecessor is in flight.
 */
const RECORD_ATTEMPTS = `
WITH i AS (
  SELECT * FROM unnest($2::uuid[], $3::int[], $4::int[], $5::jsonb[], $6::text[], $7::text[], $8::text[], $9::float8[], $10::uuid[], $11::uuid[], $12::bigint[])
    AS i(id, duration_ms, status_code, headers, body, error, status, next_ms, endpoint_id, ticket_id, event_seq)
), a AS (
  INSERT INTO webhook_attempts (tenant_id, delivery_id, attempted_at, duration_ms, status_code, response_headers, response_body, error, endpoint_id)
  SELECT $1, i.id, now() - make_interval(secs => i.duration_ms::float8 / 1000), i.duration_ms, i.status_code, i.headers, i.body, i.error, i.endpoint_id
  FROM i
), d AS (
  UPDATE webhook_deliveries w
  SET attempts = w.attempts + 1, last_status = i.status_code, last_error = i.error, updated_at = now(), leased_until = NULL,
      status = coalesce(i.status, w.status), delivered_at = CASE WHEN i.status = 'delivered' THEN now() ELSE w.delivered_at END,
      next_attempt_at = CASE WHEN i.next_ms IS NULL THEN w.next_attempt_at ELSE now() + make_interval(secs => i.next_ms / 1000) END
  FROM i WHERE w.tenant_id = $1 AND w.id = i.id AND w.status <> 'delivered'
  RETURNING w.id
)
UPDATE webhook_deliveries s SET next_attempt_at = now()
FROM (SELECT (SELECT o.id FROM webhook_deliveries o
              WHERE o.tenant_id = $1 AND o.endpoint_id = i.endpoint_id AND o.ticket_id = i.ticket_id AND o.event_seq > i.event_seq
                AND o.status <> 'delivered'
              ORDER BY o.event_seq LIMIT 1) AS id
      FROM i JOIN d ON d.id = i.id WHERE i.status = 'delivered' AND i.ticket_id IS NOT NULL) n
WHERE s.tenant_id = $1 AND s.id = n.id AND s.status = 'pending' AND s.next_attempt_at > now()`;

/** One attempt to record: the delivery's context, the receiver's answer, its outcome, the wait before the next. */
export interface AttemptToRecord {
  ctx: AttemptContext;
  response: WebhookResponse;
  outcome: AttemptOutcome;
  nextAttemptInMs: number | null;
}

const ONE_STATEMENT_OUTCOMES: ReadonlySet<AttemptOutcome> = new Set<AttemptOutcome>(['delivered', 'failed']);

/** The next delivery of the same endpoint and ticket waits for this one: once it is done, it is due at once. */
async function wakeSuccessor(db: Db, tenantId: string, endpointId: string, ticketId: string | null, eventSeq: string): Promise<void> {
  if (ticketId === null) return;
  await db.query(
    `UPDATE webhook_deliveries SET next_attempt_at = now()
     WHERE tenant_id = $1 AND id = (SELECT id FROM webhook_deliveries
                                    WHERE tenant_id = $1 AND endpoint_id = $2 AND ticket_id = $3 AND event_seq > $4 AND status <> 'delivered'
                                    ORDER BY event_seq LIMIT 1)
       AND status = 'pending' AND next_attempt_at > now()`,
    [tenantId, endpointId, ticketId, eventSeq],
  );
}

/**
 * The one redrive transition (single retry and bulk redrive): dead deliveries are pending again, due at once, with
 * a fresh round of retries (a new round: a workflow of their own) and the same `webhook-id`; each one audited.
 * Returns the ids requeued (those still dead).
 */
export async function requeueDead(db: Db, tenantId: string, ids: string[], by: { actor: Actor; requestId?: string; redriveId?: string }): Promise<string[]> {
  if (ids.length === 0) return [];
  const { rows } = await db.query<{ id: string }>(
    `UPDATE webhook_deliveries SET status = 'pending', attempts = 0, round = round + 1, next_attempt_at = now(), updated_at = now()
     WHERE tenant_id = $1 AND id = ANY($2::uuid[]) AND status = 'dead' RETURNING id`,
    [tenantId, ids],
  );
  for (const { id } of rows) {
    await appendAudit(db, {
      tenant_id: tenantId,
      actor: by.actor,
      action: 'webhook_delivery.redriven',
      entity_type: 'webhook_delivery',
      entity_id: id,
      before: { status: 'dead' },
      after: by.redriveId ? { status: 'pending', redrive_id: by.redriveId } : { status: 'pending' },
      request_id: by.requestId,
    });
  }
  return rows.map((r) => r.id);
}

const DELIVERY_COLUMNS = `
  d.id, 'msg_' || d.id AS webhook_id, d.endpoint_id, ev.id AS event_id, d.event_type, d.ticket_id, d.status,
  (SELECT count(*)::int FROM webhook_attempts a WHERE a.tenant_id = d.tenant_id AND a.delivery_id = d.id) AS attempt_count,
  d.last_status, d.last_error,
  CASE WHEN d.status IN ('pending', 'retrying') THEN d.next_attempt_at END AS next_attempt_at,
  d.delivered_at, d.created_at, d.updated_at`;

export function webhookDeliveryStore(pool: pg.Pool) {
  /**
   * Logs delivered and failed attempts of one tenant and applies their outcomes, in one statement (atomic as any
   * statement): one round trip and one commit for the batch (bench/RESULTS.md, issue #10).
   */
  async function recordAttempts(tenantId: string, batch: AttemptToRecord[]): Promise<void> {
    const column = <T>(of: (a: AttemptToRecord) => T) => batch.map(of);
    await withTenant(pool, tenantId, (db) =>
      db.query(RECORD_ATTEMPTS, [
        tenantId,
        column((a) => a.ctx.id),
        column((a) => a.response.durationMs),
        column((a) => a.response.status),
        column((a) => (a.response.headers ? JSON.stringify(a.response.headers) : null)),
        column((a) => a.response.bodyExcerpt),
        column((a) => a.response.error),
        column((a) => (a.outcome === 'delivered' ? 'delivered' : null)),
        column((a) => (a.outcome === 'failed' ? a.nextAttemptInMs : null)),
        column((a) => a.ctx.endpoint_id),
        column((a) => a.ctx.ticket_id),
        column((a) => a.ctx.event_seq),
      ]),
    );
  }

  return {
    /** Due pending deliveries of every tenant (names only; each is then claimed under its tenant). */
    async due(limit: number): Promise<DueDelivery[]> {
      const { rows } = await pool.query<DueDelivery>('SELECT id, tenant_id FROM webhook_deliveries_due($1)', [limit]);
      return rows;
    },

    /**
     * Takes a batch of one tenant's due deliveries, each for one attempt, leasing them for `leaseMs`. One is not
     * claimed (and is put off) while an older delivery of the same endpoint and ticket is not done (`blockedMs`) or
     * its endpoint is disabled (`disabledMs`); left out when another dispatcher has it or it is no longer due.
     */
    async claim(tenantId: string, ids: string[], ms: { leaseMs: number; disabledMs: number; blockedMs: number }): Promise<ClaimResult[]> {
      if (ids.length === 0) return [];
      return withTenant(pool, tenantId, async (db) => {
        type Row = AttemptContext & {
          claim_id: string;
          claim_attempts: number;
          claim_round: number;
          claim_endpoint_id: string;
          claim_enabled: boolean;
          claim_blocked: boolean;
          claim_probe: boolean;
        };
        const { rows } = await db.query<Row>(CLAIM, [tenantId, ids, ms.leaseMs, ms.disabledMs, ms.blockedMs]);
        return rows.map((row) => {
          const { claim_id, claim_attempts, claim_round, claim_endpoint_id, claim_enabled, claim_blocked, claim_probe, ...context } = row;
          const claimed = claim_enabled && !claim_blocked && context.id !== null;
          return {
            id: claim_id,
            claimed,
            attempts: claim_attempts,
            endpoint_id: claim_endpoint_id,
            probe: claim_probe,
            round: claim_round,
            context: claimed ? context : null,
          };
        });
      });
    },

    async context(tenantId: string, id: string): Promise<AttemptContext | null> {
      return withTenant(pool, tenantId, async (db) => (await db.query<AttemptContext>(contextOf('$2'), [tenantId, id])).rows[0] ?? null);
    },

    recordAttempts,

    /**
     * Logs one attempt and applies its outcome: delivered or failed (counted; the caller decides when to try again)
     * as `recordAttempts`; gone (410) in one transaction.
     */
    async recordAttempt(attempt: AttemptToRecord): Promise<void> {
      if (ONE_STATEMENT_OUTCOMES.has(attempt.outcome)) return recordAttempts(attempt.ctx.tenant_id, [attempt]);
      const { ctx, response } = attempt; // 410 Gone: the delivery is dead and its endpoint disabled, both audited
      await inTenantTransaction(pool, ctx.tenant_id, async (db) => {
        await db.query(
          `INSERT INTO webhook_attempts (tenant_id, delivery_id, attempted_at, duration_ms, status_code, response_headers, response_body, error, endpoint_id)
           VALUES ($1, $2, now() - make_interval(secs => $3::float8 / 1000), $3, $4, $5, $6, $7, $8)`,
          [
            ctx.tenant_id,
            ctx.id,
            response.durationMs,
            response.status,
            response.headers ? JSON.stringify(response.headers) : null,
            response.bodyExcerpt,
            response.error,
            ctx.endpoint_id,
          ],
        );
        const { rowCount } = await db.query(
          `UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = $3, last_error = $4, updated_at = now(), status = 'dead'
           WHERE tenant_id = $1 AND id = $2 AND status <> 'delivered'`,
          [ctx.tenant_id, ctx.id, response.status, response.error],
        );
        if (!rowCount) return; // delivered already (an earlier attempt's answer arrived first)
        const reason = `the receiver answered 410 Gone (delivery ${ctx.id})`;
        const { rowCount: disabled } = await db.query(
          `UPDATE webhook_endpoints SET enabled = false, disabled_reason = $3, version = version + 1, updated_at = now()
           WHERE tenant_id = $1 AND id = $2 AND enabled`,
          [ctx.tenant_id, ctx.endpoint_id, reason],
        );
        await appendAudit(db, {
          tenant_id: ctx.tenant_id,
          actor: SYSTEM_ACTOR,
          action: 'webhook_delivery.dead_lettered',
          entity_type: 'webhook_delivery',
          entity_id: ctx.id,
          after: { endpoint_id: ctx.endpoint_id, event_type: ctx.event_type, attempts: ctx.attempts + 1, last_status: 410, reason: 'gone' },
        });
        if (disabled) {
          await appendAudit(db, {
            tenant_id: ctx.tenant_id,
            actor: SYSTEM_ACTOR,
            action: 'webhook_endpoint.disabled',
            entity_type: 'webhook_endpoint',
            entity_id: ctx.endpoint_id,
            after: { enabled: false, disabled_reason: reason },
          });
        }
      });
    },

    /** Claimed deliveries the dispatcher will not attempt now (their endpoint is busy): due again after `delayMs`. */
    async defer(tenantId: string, ids: string[], delayMs: number): Promise<void> {
      if (ids.length === 0) return;
      await withTenant(pool, tenantId, (db) =>
        db.query(
          `UPDATE webhook_deliveries SET next_attempt_at = now() + make_interval(secs => $3::float8 / 1000), leased_until = NULL
           WHERE tenant_id = $1 AND id = ANY($2::uuid[]) AND status = 'pending'`,
          [tenantId, ids, delayMs],
        ),
      );
    },

    /** The dispatcher's attempt failed and its backoff workflow (of this round) now runs: the delivery is the workflow's. */
    async markRetrying(tenantId: string, id: string, round = 0): Promise<void> {
      await withTenant(pool, tenantId, (db) =>
        db.query(
          `UPDATE webhook_deliveries SET status = 'retrying', updated_at = now() WHERE tenant_id = $1 AND id = $2 AND status = 'pending' AND round = $3`,
          [tenantId, id, round],
        ),
      );
    },

    /**
     * A delivery of this round whose endpoint was disabled goes back to the dispatcher, which resumes it once enabled,
     * in a round (and so a workflow) of its own.
     */
    async park(tenantId: string, id: string, delayMs: number, round = 0): Promise<void> {
      await withTenant(pool, tenantId, (db) =>
        db.query(
          `UPDATE webhook_deliveries
           SET status = 'pending', round = round + 1, next_attempt_at = now() + make_interval(secs => $3::float8 / 1000), updated_at = now()
           WHERE tenant_id = $1 AND id = $2 AND status IN ('pending', 'retrying') AND round = $4`,
          [tenantId, id, delayMs, round],
        ),
      );
    },

    /**
     * The last retry of `round` failed: dead, audited; the next delivery of its ticket goes on. Null if it was not
     * live, or has moved on to a later round (a late repeat of an earlier round's activity after a redrive).
     */
    async deadLetter(tenantId: string, id: string, reason?: string, round = 0): Promise<DeadLetter | null> {
      return inTenantTransaction(pool, tenantId, async (db) => {
        const { rows } = await db.query<DeadLetter & { ticket_id: string | null; event_seq: string }>(
          `UPDATE webhook_deliveries SET status = 'dead', last_error = coalesce($3, last_error), updated_at = now()
           WHERE tenant_id = $1 AND id = $2 AND status IN ('pending', 'retrying') AND round = $4
           RETURNING id, tenant_id, endpoint_id, event_type, attempts, last_status, last_error, ticket_id, event_seq`,
          [tenantId, id, reason ?? null, round],
        );
        const row = rows[0];
        if (!row) return null;
        await appendAudit(db, {
          tenant_id: tenantId,
          actor: SYSTEM_ACTOR,
          action: 'webhook_delivery.dead_lettered',
          entity_type: 'webhook_delivery',
          entity_id: id,
          after: { endpoint_id: row.endpoint_id, event_type: row.event_type, attempts: row.attempts, last_status: row.last_status, last_error: row.last_error },
        });
        await wakeSuccessor(db, tenantId, row.endpoint_id, row.ticket_id, row.event_seq);
        const { ticket_id: _t, event_seq: _s, ...dead } = row;
        return dead;
      });
    },

    /**
     * Redrive: a dead delivery is pending again, with a fresh round of retries and the same `webhook-id`.
     * 'not_found' for another tenant's or no delivery, 'not_dead' for one that is not a dead letter.
     */
    async redrive(who: Identity, id: string, requestId?: string): Promise<DeliveryRecord | 'not_found' | 'not_dead'> {
      return inTenantTransaction(pool, who.tenantId, async (db) => {
        const requeued = await requeueDead(db, who.tenantId, [id], { actor: who.actor, requestId });
        if (requeued.length === 0) {
          const exists = await db.query('SELECT 1 FROM webhook_deliveries WHERE tenant_id = $1 AND id = $2', [who.tenantId, id]);
          return exists.rowCount ? 'not_dead' : 'not_found';
        }
        const read = await db.query<DeliveryRecord>(
          `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhook_events ev ON ev.seq = d.event_seq WHERE d.tenant_id = $1 AND d.id = $2`,
          [who.tenantId, id],
        );
        return read.rows[0]!;
      });
    },

    /** An endpoint's deliveries, newest first (limit+1 rows); null when the endpoint is not the tenant's. */
    async list(tenantId: string, endpointId: string, filter: DeliveryFilter, limit: number): Promise<DeliveryRecord[] | null> {
      return withTenant(pool, tenantId, async (db) => {
        const endpoint = await db.query('SELECT 1 FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2', [tenantId, endpointId]);
        if (!endpoint.rowCount) return null;
        const { rows } = await db.query<DeliveryRecord>(
          `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhook_events ev ON ev.seq = d.event_seq
           WHERE d.tenant_id = $1 AND d.endpoint_id = $2
             AND ($3::text IS NULL OR d.status = $3) AND ($4::text IS NULL OR d.event_type = $4)
             AND ($5::timestamptz IS NULL OR d.created_at >= $5) AND ($6::timestamptz IS NULL OR d.created_at < $6)
             AND ($7::timestamptz IS NULL OR (d.created_at, d.id) < ($7, $8::uuid))
           ORDER BY d.created_at DESC, d.id DESC LIMIT $9`,
          [
            tenantId,
            endpointId,
            filter.status ?? null,
            filter.event_type ?? null,
            filter.from ?? null,
            filter.to ?? null,
            filter.before?.[0] ?? null,
            filter.before?.[1] ?? null,
            limit + 1,
          ],
        );
        return rows;
      });
    },

    /** One delivery with every attempt, oldest first. */
    async get(tenantId: string, id: string): Promise<(DeliveryRecord & { attempts: AttemptRecord[] }) | null> {
      return withTenant(pool, tenantId, async (db) => {
        const { rows } = await db.query<DeliveryRecord>(
          `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhook_events ev ON ev.seq = d.event_seq WHERE d.tenant_id = $1 AND d.id = $2`,
          [tenantId, id],
        );
        if (!rows[0]) return null;
        const attempts = await db.query<AttemptRecord>(
          `SELECT attempted_at, duration_ms, status_code, response_headers, response_body, error FROM webhook_attempts
           WHERE tenant_id = $1 AND delivery_id = $2 ORDER BY attempted_at, id`,
          [tenantId, id],
        );
        return { ...rows[0], attempts: attempts.rows };
      });
    },
  };
}
export type WebhookDeliveryStore = ReturnType<typeof webhookDeliveryStore>;
