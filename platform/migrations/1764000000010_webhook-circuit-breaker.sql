-- Up Migration

-- The per-endpoint circuit breaker (domain/circuit-breaker.ts decides, stores/webhook-circuit-breaker.ts
-- writes). Every worker process reads and changes these columns under the endpoint's row lock.
--   closed:    deliveries go out; failures are counted over the window since breaker_closed_at.
--   open:      deliveries are held (status 'held', no attempt spent) until breaker_retry_at.
--   half_open: one probe (breaker_probe_delivery_id) is out; everything else is held. A probe whose worker
--              died is taken over once breaker_probe_started_at is older than the probe lease.
-- breaker_tripped_at: when each trip since the last successful close happened (its length is the trip
-- count; reset on close). After enough trips the endpoint is disabled and an internal ticket opened:
-- breaker_incident_ticket_id names it (derived from the endpoint and breaker_disables, so opening it is
-- idempotent), breaker_incident_pending says it still has to be opened (an outbox of one).
ALTER TABLE webhook_endpoints
  ADD COLUMN breaker_state text NOT NULL DEFAULT 'closed' CHECK (breaker_state IN ('closed', 'open', 'half_open')),
  ADD COLUMN breaker_closed_at timestamptz NOT NULL DEFAULT now(),
  ADD COLUMN breaker_opened_at timestamptz,
  ADD COLUMN breaker_retry_at timestamptz,
  ADD COLUMN breaker_tripped_at timestamptz[] NOT NULL DEFAULT '{}',
  ADD COLUMN breaker_probe_delivery_id uuid,
  ADD COLUMN breaker_probe_started_at timestamptz,
  ADD COLUMN breaker_disables integer NOT NULL DEFAULT 0,
  ADD COLUMN breaker_incident_ticket_id uuid,
  ADD COLUMN breaker_incident_pending boolean NOT NULL DEFAULT false;

-- The failure rate of an endpoint over the last few minutes, without going through its deliveries.
ALTER TABLE webhook_attempts ADD COLUMN endpoint_id uuid;
UPDATE webhook_attempts a SET endpoint_id = d.endpoint_id FROM webhook_deliveries d WHERE d.id = a.delivery_id;
CREATE INDEX webhook_attempts_endpoint_idx ON webhook_attempts (endpoint_id, attempted_at);

-- Held deliveries of an endpoint, oldest first (the probe is the oldest; a close releases them all).
CREATE INDEX webhook_deliveries_held_idx ON webhook_deliveries (endpoint_id, event_seq) WHERE status = 'held';

-- Breakers needing a worker before any tenant is known: a cool-down is over (or a probe's lease ran out),
-- or an incident ticket is still to be opened. Names only; each is then handled under its tenant.
CREATE INDEX webhook_endpoints_breaker_idx ON webhook_endpoints (breaker_retry_at) WHERE breaker_state <> 'closed' OR breaker_incident_pending;
CREATE FUNCTION webhook_breakers_due(p_probe_lease_ms double precision, p_limit integer)
RETURNS TABLE (tenant_id uuid, endpoint_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT e.tenant_id, e.id FROM webhook_endpoints e
  WHERE e.deleted_at IS NULL
    AND (e.breaker_state <> 'closed' OR e.breaker_incident_pending) -- implied below; lets the partial index serve
    AND (e.breaker_incident_pending
         -- A probe is released from what is held; with nothing held the next delivery to come probes itself.
         OR (e.enabled
             AND (   (e.breaker_state = 'open' AND e.breaker_retry_at <= now())
                  OR (e.breaker_state = 'half_open'
                      AND e.breaker_probe_started_at < now() - make_interval(secs => p_probe_lease_ms / 1000)))
             AND EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.endpoint_id = e.id AND d.status = 'held')))
  ORDER BY e.breaker_retry_at NULLS FIRST LIMIT p_limit
$$;
GRANT EXECUTE ON FUNCTION webhook_breakers_due(double precision, integer) TO deskflow_app;

-- Down Migration
DROP FUNCTION webhook_breakers_due(double precision, integer);
DROP INDEX webhook_endpoints_breaker_idx;
DROP INDEX webhook_deliveries_held_idx;
DROP INDEX webhook_attempts_endpoint_idx;
ALTER TABLE webhook_attempts DROP COLUMN endpoint_id;
ALTER TABLE webhook_endpoints
  DROP COLUMN breaker_state,
  DROP COLUMN breaker_closed_at,
  DROP COLUMN breaker_opened_at,
  DROP COLUMN breaker_retry_at,
  DROP COLUMN breaker_tripped_at,
  DROP COLUMN breaker_probe_delivery_id,
  DROP COLUMN breaker_probe_started_at,
  DROP COLUMN breaker_disables,
  DROP COLUMN breaker_incident_ticket_id,
  DROP COLUMN breaker_incident_pending;
