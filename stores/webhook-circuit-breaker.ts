/**
 * The per-endpoint circuit breaker's state (columns of webhook_endpoints, see migration 10) and the
 * deliveries it holds. Decisions come from domain/circuit-breaker.ts; every change of state is made under
 * the endpoint's row lock or by a conditional update, so worker processes racing on one endpoint agree:
 * one trip per failure burst, one probe at a time, one incident ticket per disable.
 *
 * Nothing here runs in the common case (breaker closed, receiver up): the attempt's context already carries
 * the breaker columns, and a success in the closed state writes nothing.
 */
import type pg from 'pg';
import { type AttemptCounts, type BreakerSettings, type IncidentFacts, shouldTrip, trip } from '../domain/circuit-breaker';
import { SYSTEM_ACTOR } from '../domain/ticket-state-machine';
import { appendAudit } from '../platform/audit';
import { nameBasedUuid } from '../platform/name-uuid';
import { type Db, inTenantTransaction, withTenant } from '../platform/tenant-db';

/** The incident ticket of an endpoint's n-th auto-disable: the same id however often opening it is retried. */
const INCIDENT_TICKET_NAMESPACE = '3b8f2c1e-5d4a-4e7b-a9c6-0f1e2d3c4b5a';
export const incidentTicketIdOf = (endpointId: string, disableNumber: number) => nameBasedUuid(INCIDENT_TICKET_NAMESPACE, `${endpointId}:${disableNumber}`);

/** What a trip did: opened the breaker again (until `retry_at`), or disabled the endpoint (an incident to open). */
export type TripOutcome =
  | { kind: 'opened'; trips: number; retry_at: string }
  | { kind: 'disabled'; trips: number; reason: string; incident_ticket_id: string; tripped_at: string[] };

export interface BreakerEvent {
  tenant_id: string;
  endpoint_id: string;
  outcome: TripOutcome | { kind: 'closed'; released: number };
}

interface LockedRow {
  enabled: boolean;
  breaker_state: string;
  breaker_probe_delivery_id: string | null;
  breaker_closed_at: string;
  tripped: number;
  breaker_disables: number;
}

// NO KEY UPDATE, not UPDATE: it excludes holds (FOR SHARE) and other breaker changes, but not the foreign-key
// checks of the outbox inserting deliveries for this endpoint (KEY SHARE), which would otherwise queue behind a
// trip and could deadlock with it (seen in bench:webhooks).
const lock = async (db: Db, tenantId: string, endpointId: string) =>
  (
    await db.query<LockedRow>(
      `SELECT enabled, breaker_state, breaker_probe_delivery_id, breaker_closed_at, cardinality(breaker_tripped_at) AS tripped, breaker_disables
       FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL FOR NO KEY UPDATE`,
      [tenantId, endpointId],
    )
  ).rows[0];

/** Attempts of the endpoint since its breaker last closed, within the window, and how many got no 2xx. */
async function countsOf(db: Db, tenantId: string, endpointId: string, closedAt: string, windowMs: number): Promise<AttemptCounts> {
  const { rows } = await db.query<AttemptCounts>(
    `SELECT count(*)::int AS attempts, count(*) FILTER (WHERE status_code IS NULL OR status_code NOT BETWEEN 200 AND 299)::int AS failures
     FROM webhook_attempts
     WHERE tenant_id = $1 AND endpoint_id = $2 AND attempted_at >= greatest($3::timestamptz, now() - make_interval(secs => $4::float8 / 1000))`,
    [tenantId, endpointId, closedAt, windowMs],
  );
  return rows[0]!;
}

/** Another trip of a locked endpoint: open with the next cool-down, or disable it (with its incident to open). */
async function tripLocked(db: Db, tenantId: string, endpointId: string, row: LockedRow, counts: AttemptCounts, s: BreakerSettings): Promise<TripOutcome> {
  const decision = trip(row.tripped, s);
  if (!decision.disable) {
    const { rows } = await db.query<{ retry_at: string }>(
      `UPDATE webhook_endpoints
       SET breaker_state = 'open', breaker_opened_at = now(), breaker_retry_at = now() + make_interval(secs => $3::float8 / 1000),
           breaker_tripped_at = array_append(breaker_tripped_at, now()), breaker_probe_delivery_id = NULL, breaker_probe_started_at = NULL
       WHERE tenant_id = $1 AND id = $2 RETURNING breaker_retry_at AS retry_at`,
      [tenantId, endpointId, decision.cooldownMs],
    );
    const retry_at = rows[0]!.retry_at;
    await appendAudit(db, {
      tenant_id: tenantId,
      actor: SYSTEM_ACTOR,
      action: 'webhook_endpoint.circuit_opened',
      entity_type: 'webhook_endpoint',
      entity_id: endpointId,
      after: { trips: decision.trips, retry_at, attempts: counts.attempts, failures: counts.failures },
    });
    return { kind: 'opened', trips: decision.trips, retry_at };
  }
  const incident_ticket_id = incidentTicketIdOf(endpointId, row.breaker_disables + 1);
  const reason = `circuit breaker: tripped ${decision.trips} times without a successful probe (${counts.failures} of ${counts.attempts} attempts failed); see ticket ${incident_ticket_id}`;
  const { rows } = await db.query<{ tripped_at: string[] }>(
    // Held deliveries stay held (an admin enabling the endpoint releases them); no retry_at: nothing probes.
    `UPDATE webhook_endpoints
     SET enabled = false, disabled_reason = $3, version = version + 1, updated_at = now(),
         breaker_state = 'open', breaker_opened_at = now(), breaker_retry_at = NULL,
         breaker_tripped_at = array_append(breaker_tripped_at, now()), breaker_probe_delivery_id = NULL, breaker_probe_started_at = NULL,
         breaker_disables = breaker_disables + 1, breaker_incident_ticket_id = $4, breaker_incident_pending = true
     WHERE tenant_id = $1 AND id = $2 RETURNING breaker_tripped_at AS tripped_at`,
    [tenantId, endpointId, reason, incident_ticket_id],
  );
  const tripped_at = rows[0]!.tripped_at;
  await appendAudit(db, {
    tenant_id: tenantId,
    actor: SYSTEM_ACTOR,
    action: 'webhook_endpoint.disabled',
    entity_type: 'webhook_endpoint',
    entity_id: endpointId,
    after: { enabled: false, disabled_reason: reason, trips: decision.trips, tripped_at, incident_ticket_id, ...counts },
  });
  return { kind: 'disabled', trips: decision.trips, reason, incident_ticket_id, tripped_at };
}

export function webhookBreakerStore(pool: pg.Pool, settings: BreakerSettings) {
  return {
    /**
     * Becomes the endpoint's one probe: the cool-down is over, or this delivery was released as the probe, or
     * the probe's lease ran out. False when another worker's delivery is the probe (or the breaker closed).
     */
    async claimProbe(tenantId: string, endpointId: string, deliveryId: string, leaseMs: number): Promise<boolean> {
      return withTenant(pool, tenantId, async (db) => {
        const { rowCount } = await db.query(
          `UPDATE webhook_endpoints SET breaker_state = 'half_open', breaker_probe_delivery_id = $3, breaker_probe_started_at = now()
           WHERE tenant_id = $1 AND id = $2 AND enabled
             AND (   (breaker_state = 'open' AND breaker_retry_at <= now())
                  OR (breaker_state = 'half_open'
                      AND (breaker_probe_delivery_id = $3 OR breaker_probe_started_at < now() - make_interval(secs => $4::float8 / 1000))))`,
          [tenantId, endpointId, deliveryId, leaseMs],
        );
        return rowCount === 1;
      });
    },

    /**
     * Holds a delivery while its endpoint's breaker is not closed: no request, no retry spent. Under the
     * endpoint's share lock, so a close (which takes the row lock and then releases everything held) cannot
     * slip in between: false when the breaker closed meanwhile (the caller sends after all).
     */
    async hold(tenantId: string, endpointId: string, deliveryId: string): Promise<boolean> {
      return inTenantTransaction(pool, tenantId, async (db) => {
        const { rows } = await db.query<{ breaker_state: string }>('SELECT breaker_state FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2 FOR SHARE', [
          tenantId,
          endpointId,
        ]);
        if (!rows[0] || rows[0].breaker_state === 'closed') return false;
        await db.query(
          // Taken from a backoff workflow (`retrying`): a new round, so its release gets a workflow of its own and
          // never joins the one that is ending now.
          `UPDATE webhook_deliveries SET status = 'held', round = round + (status = 'retrying')::int, updated_at = now()
           WHERE tenant_id = $1 AND id = $2 AND status IN ('pending', 'retrying')`,
          [tenantId, deliveryId],
        );
        return true;
      });
    },

    /**
     * A failed attempt while the breaker was closed: trips it when the recent failure rate says so. Null when
     * nothing changed (not enough failures, or another worker already tripped it).
     */
    async afterFailure(tenantId: string, endpointId: string): Promise<TripOutcome | null> {
      // Counted without a lock first: failures below the threshold (the usual case) never queue on the endpoint row.
      const below = await withTenant(pool, tenantId, async (db) => {
        const { rows } = await db.query<{ breaker_state: string; breaker_closed_at: string }>(
          'SELECT breaker_state, breaker_closed_at FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2 AND enabled',
          [tenantId, endpointId],
        );
        if (rows[0]?.breaker_state !== 'closed') return true;
        return !shouldTrip(await countsOf(db, tenantId, endpointId, rows[0].breaker_closed_at, settings.windowMs), settings);
      });
      if (below) return null;
      return inTenantTransaction(pool, tenantId, async (db) => {
        const row = await lock(db, tenantId, endpointId);
        if (!row?.enabled || row.breaker_state !== 'closed') return null; // another worker tripped it
        const counts = await countsOf(db, tenantId, endpointId, row.breaker_closed_at, settings.windowMs);
        if (!shouldTrip(counts, settings)) return null;
        return tripLocked(db, tenantId, endpointId, row, counts, settings);
      });
    },

    /**
     * The probe's answer: a success closes the breaker and releases everything held (due at once, oldest
     * first by the per-ticket order); a failure is another trip. Null when this delivery was no longer the probe.
     */
    async afterProbe(tenantId: string, endpointId: string, deliveryId: string, succeeded: boolean): Promise<BreakerEvent['outcome'] | null> {
      return inTenantTransaction(pool, tenantId, async (db) => {
        const row = await lock(db, tenantId, endpointId);
        if (!row?.enabled || row.breaker_state !== 'half_open' || row.breaker_probe_delivery_id !== deliveryId) return null;
        if (!succeeded) {
          const counts = await countsOf(db, tenantId, endpointId, row.breaker_closed_at, settings.windowMs);
          return tripLocked(db, tenantId, endpointId, row, counts, settings);
        }
        await db.query(
          `UPDATE webhook_endpoints
           SET breaker_state = 'closed', breaker_closed_at = now(), breaker_retry_at = NULL, breaker_tripped_at = '{}',
               breaker_probe_delivery_id = NULL, breaker_probe_started_at = NULL
           WHERE tenant_id = $1 AND id = $2`,
          [tenantId, endpointId],
        );
        const released = await db.query(
          `UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(), updated_at = now()
           WHERE tenant_id = $1 AND endpoint_id = $2 AND status = 'held'`,
          [tenantId, endpointId],
        );
        await appendAudit(db, {
          tenant_id: tenantId,
          actor: SYSTEM_ACTOR,
          action: 'webhook_endpoint.circuit_closed',
          entity_type: 'webhook_endpoint',
          entity_id: endpointId,
          after: { probe_delivery_id: deliveryId, released: released.rowCount ?? 0 },
        });
        return { kind: 'closed', released: released.rowCount ?? 0 };
      });
    },

    /** Endpoints whose cool-down is over (or whose probe's lease ran out) with deliveries held, or with an incident to open. */
    async due(probeLeaseMs: number, limit: number): Promise<{ tenant_id: string; endpoint_id: string }[]> {
      const { rows } = await pool.query('SELECT tenant_id, endpoint_id FROM webhook_breakers_due($1, $2)', [probeLeaseMs, limit]);
      return rows;
    },

    /**
     * After the cool-down: the oldest held delivery becomes the probe and is due at once (the dispatcher makes
     * its attempt). Returns its id, or null when the breaker is not due (another worker was first) or nothing is held.
     */
    async releaseProbe(tenantId: string, endpointId: string, probeLeaseMs: number): Promise<string | null> {
      return inTenantTransaction(pool, tenantId, async (db) => {
        const { rows } = await db.query<{ id: string }>(
          `SELECT d.id FROM webhook_endpoints e JOIN webhook_deliveries d ON d.tenant_id = e.tenant_id AND d.endpoint_id = e.id AND d.status = 'held'
           WHERE e.tenant_id = $1 AND e.id = $2 AND e.enabled AND e.deleted_at IS NULL
             AND (   (e.breaker_state = 'open' AND e.breaker_retry_at <= now())
                  OR (e.breaker_state = 'half_open' AND e.breaker_probe_started_at < now() - make_interval(secs => $3::float8 / 1000)))
           ORDER BY d.event_seq LIMIT 1
           FOR NO KEY UPDATE OF e`,
          [tenantId, endpointId, probeLeaseMs],
        );
        const probe = rows[0]?.id;
        if (!probe) return null;
        await db.query(
          `UPDATE webhook_endpoints SET breaker_state = 'half_open', breaker_probe_delivery_id = $3, breaker_probe_started_at = now()
           WHERE tenant_id = $1 AND id = $2`,
          [tenantId, endpointId, probe],
        );
        await db.query(`UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(), updated_at = now() WHERE tenant_id = $1 AND id = $2`, [
          tenantId,
          probe,
        ]);
        return probe;
      });
    },

    /** The incident ticket still to be opened for an endpoint its breaker disabled, with what it should say; null when none. */
    async pendingIncident(tenantId: string, endpointId: string): Promise<{ ticket_id: string; facts: IncidentFacts } | null> {
      return withTenant(pool, tenantId, async (db) => {
        const { rows } = await db.query<{ ticket_id: string; url: string; description: string; tripped_at: string[]; closed_at: string }>(
          `SELECT breaker_incident_ticket_id AS ticket_id, url, description, breaker_tripped_at AS tripped_at, breaker_closed_at AS closed_at
           FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2 AND breaker_incident_pending`,
          [tenantId, endpointId],
        );
        const row = rows[0];
        if (!row) return null;
        const lastTrip = row.tripped_at.at(-1) ?? new Date().toISOString();
        const counts = await db.query<AttemptCounts>(
          `SELECT count(*)::int AS attempts, count(*) FILTER (WHERE status_code IS NULL OR status_code NOT BETWEEN 200 AND 299)::int AS failures
           FROM webhook_attempts
           WHERE tenant_id = $1 AND endpoint_id = $2 AND attempted_at <= $3 AND attempted_at >= $3::timestamptz - make_interval(secs => $4::float8 / 1000)`,
          [tenantId, endpointId, lastTrip, settings.windowMs],
        );
        const recent = await db.query<{ at: string; status: number | null; error: string | null }>(
          `SELECT attempted_at AS at, status_code AS status, error FROM webhook_attempts
           WHERE tenant_id = $1 AND endpoint_id = $2 ORDER BY attempted_at DESC, id DESC LIMIT 5`,
          [tenantId, endpointId],
        );
        const held = await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM webhook_deliveries WHERE tenant_id = $1 AND endpoint_id = $2 AND status = 'held'`,
          [tenantId, endpointId],
        );
        return {
          ticket_id: row.ticket_id,
          facts: {
            endpointId,
            url: row.url,
            description: row.description,
            trippedAt: row.tripped_at,
            counts: counts.rows[0]!,
            windowMs: settings.windowMs,
            heldDeliveries: held.rows[0]!.n,
            recent: recent.rows,
          },
        };
      });
    },

    /** The incident ticket exists now: the outbox entry is done (only for the ticket it named). */
    async incidentOpened(tenantId: string, endpointId: string, ticketId: string): Promise<void> {
      await withTenant(pool, tenantId, (db) =>
        db.query(
          `UPDATE webhook_endpoints SET breaker_incident_pending = false
           WHERE tenant_id = $1 AND id = $2 AND breaker_incident_ticket_id = $3 AND breaker_incident_pending`,
          [tenantId, endpointId, ticketId],
        ),
      );
    },
  };
}
export type WebhookBreakerStore = ReturnType<typeof webhookBreakerStore>;
