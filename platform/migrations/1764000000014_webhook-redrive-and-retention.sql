-- Up Migration

-- Which backoff round owns a delivery. Bumped whenever a workflow gives the delivery back to the dispatcher
-- (a redrive, a park): the next hand-over then starts a workflow of its own (`webhook-delivery-<id>` in
-- round 0, `webhook-delivery-<id>-r<round>` after), never joins a run of an earlier round that is just
-- finishing, and a late activity of an earlier round changes nothing.
ALTER TABLE webhook_deliveries ADD COLUMN round integer NOT NULL DEFAULT 0;

-- Bulk redrives of an endpoint's dead letters: the progress a redrive workflow writes with every batch
-- (its cursor and count), kept after it ends. One running redrive per endpoint.
CREATE TABLE webhook_redrives (
  id                 uuid PRIMARY KEY,
  tenant_id          uuid NOT NULL REFERENCES tenants (id),
  endpoint_id        uuid NOT NULL,
  since              timestamptz NOT NULL,
  until              timestamptz,
  event_types        text[] NOT NULL DEFAULT '{}', -- empty: every type
  per_second         integer NOT NULL,
  state              text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'completed', 'cancelled', 'failed')),
  requeued           integer NOT NULL DEFAULT 0,
  cursor_created_at  timestamptz,
  cursor_id          uuid,
  error              text,
  requested_by_type  text NOT NULL,
  requested_by_id    text,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  finished_at        timestamptz,
  FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id)
);
CREATE UNIQUE INDEX webhook_redrives_one_running_idx ON webhook_redrives (tenant_id, endpoint_id) WHERE state = 'running';
-- The redrive's walk: an endpoint's dead letters by (created_at, id).
CREATE INDEX webhook_deliveries_dead_idx ON webhook_deliveries (tenant_id, endpoint_id, created_at, id) WHERE status = 'dead';

ALTER TABLE webhook_redrives ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_redrives USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
GRANT SELECT, INSERT, UPDATE ON webhook_redrives TO deskflow_app;

-- Retention of the delivery log: the app role has no DELETE, so the scheduled purge goes through this one
-- narrow function (attempts older than the cut-off, at most p_limit of them per call, oldest first).
CREATE FUNCTION purge_webhook_attempts(p_before timestamptz, p_limit integer)
RETURNS integer
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public AS $$
  WITH gone AS (
    DELETE FROM webhook_attempts
    WHERE id IN (SELECT id FROM webhook_attempts WHERE attempted_at < p_before ORDER BY attempted_at LIMIT p_limit)
    RETURNING 1
  )
  SELECT count(*)::integer FROM gone
$$;
REVOKE ALL ON FUNCTION purge_webhook_attempts(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purge_webhook_attempts(timestamptz, integer) TO deskflow_app;

-- Down Migration
DROP FUNCTION purge_webhook_attempts(timestamptz, integer);
DROP INDEX webhook_deliveries_dead_idx;
DROP TABLE webhook_redrives;
ALTER TABLE webhook_deliveries DROP COLUMN round;
