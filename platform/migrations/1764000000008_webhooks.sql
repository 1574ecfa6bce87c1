-- Up Migration

-- Endpoints integrators subscribe to ticket events. The signing secret is encrypted like PII; during a
-- rotation the previous secret keeps signing (a second signature) until its overlap ends.
CREATE TABLE webhook_endpoints (
  id                          uuid PRIMARY KEY,
  tenant_id                   uuid NOT NULL REFERENCES tenants (id),
  url                         text NOT NULL,
  description                 text NOT NULL DEFAULT '',
  event_types                 text[] NOT NULL DEFAULT '{}', -- empty: every type
  include_internal            boolean NOT NULL DEFAULT false,
  enabled                     boolean NOT NULL DEFAULT true,
  disabled_reason             text,
  headers                     jsonb NOT NULL DEFAULT '{}',
  secret_enc                  text NOT NULL,
  secret_created_at           timestamptz NOT NULL DEFAULT now(),
  previous_secret_enc         text,
  previous_secret_expires_at  timestamptz,
  version                     integer NOT NULL DEFAULT 1,
  created_at                  timestamptz NOT NULL DEFAULT now(),
  updated_at                  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, id)
);
CREATE INDEX webhook_endpoints_tenant_idx ON webhook_endpoints (tenant_id, created_at DESC, id DESC);

-- The tenant's deliverable events in order (the change feed), written in the projection's statement:
-- nothing is lost between a ticket change and its fan-out. `body` is the exact bytes every attempt sends.
CREATE TABLE webhook_events (
  seq             bigserial PRIMARY KEY,
  id              uuid NOT NULL UNIQUE,
  tenant_id       uuid NOT NULL REFERENCES tenants (id),
  type            text NOT NULL,
  ticket_id       uuid,
  ticket_version  integer,
  internal        boolean NOT NULL DEFAULT false,
  body            text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (ticket_id, ticket_version, type)
);
CREATE INDEX webhook_events_feed_idx ON webhook_events (tenant_id, seq);

-- One delivery per (event, endpoint); its id is the `webhook-id` every attempt carries.
CREATE TABLE webhook_deliveries (
  id               uuid PRIMARY KEY,
  tenant_id        uuid NOT NULL REFERENCES tenants (id),
  endpoint_id      uuid NOT NULL,
  event_seq        bigint NOT NULL REFERENCES webhook_events (seq),
  event_type       text NOT NULL,
  ticket_id        uuid,
  status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'retrying', 'held', 'delivered', 'dead')),
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  last_status      integer,
  last_error       text,
  delivered_at     timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (endpoint_id, event_seq),
  FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (tenant_id, endpoint_id, created_at DESC, id DESC);
-- Per (endpoint, ticket) order: a delivery waits while an older one of the same ticket is not done.
CREATE INDEX webhook_deliveries_order_idx ON webhook_deliveries (endpoint_id, ticket_id, event_seq) WHERE status <> 'delivered';

-- Every attempt, kept 30 days.
CREATE TABLE webhook_attempts (
  id                bigserial PRIMARY KEY,
  tenant_id         uuid NOT NULL REFERENCES tenants (id),
  delivery_id       uuid NOT NULL REFERENCES webhook_deliveries (id),
  attempted_at      timestamptz NOT NULL DEFAULT now(),
  duration_ms       integer NOT NULL,
  status_code       integer,
  response_headers  jsonb,
  response_body     text,
  error             text
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, attempted_at);
CREATE INDEX webhook_attempts_age_idx ON webhook_attempts (attempted_at);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['webhook_endpoints', 'webhook_events', 'webhook_deliveries', 'webhook_attempts'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id())', t);
  END LOOP;
END $$;
GRANT SELECT, INSERT, UPDATE ON webhook_endpoints, webhook_deliveries TO deskflow_app;
GRANT SELECT, INSERT ON webhook_events, webhook_attempts TO deskflow_app;
GRANT USAGE ON SEQUENCE webhook_events_seq_seq, webhook_attempts_id_seq TO deskflow_app;

-- The dispatcher looks for due deliveries before any tenant is known: a narrow SECURITY DEFINER look-up
-- that names rows only (the dispatcher then reads and updates each under its tenant).
CREATE FUNCTION webhook_deliveries_due(p_limit integer)
RETURNS TABLE (id uuid, tenant_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT id, tenant_id FROM webhook_deliveries
  WHERE status = 'pending' AND next_attempt_at <= now()
  ORDER BY next_attempt_at LIMIT p_limit
$$;
GRANT EXECUTE ON FUNCTION webhook_deliveries_due(integer) TO deskflow_app;

-- Down Migration
DROP FUNCTION webhook_deliveries_due(integer);
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_events;
DROP TABLE webhook_endpoints;
