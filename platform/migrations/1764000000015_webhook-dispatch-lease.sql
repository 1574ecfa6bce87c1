-- Up Migration

-- A dispatcher's claim is a lease of its own column, not a move of next_attempt_at: no index covers
-- leased_until, so taking the lease is a HOT update (no new entry in any of the table's indexes), where moving
-- next_attempt_at wrote one into each. A leased row stays in the due index and is skipped by the due scan
-- (at most the in-flight deliveries: the dispatchers' concurrency). Room on every page for those updates.
ALTER TABLE webhook_deliveries ADD COLUMN leased_until timestamptz;
ALTER TABLE webhook_deliveries SET (fillfactor = 80);

-- A lease belongs to one stay in `pending`: any change of status ends it (held, retrying, delivered, dead; and
-- back to pending from held, retrying or dead starts unleased), in one place rather than in every statement.
CREATE FUNCTION webhook_delivery_lease_ends() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.leased_until := NULL;
  RETURN NEW;
END $$;
CREATE TRIGGER webhook_delivery_lease_ends BEFORE UPDATE OF status ON webhook_deliveries
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION webhook_delivery_lease_ends();

-- Replaced by webhook_deliveries_due_tenant_idx (migration 012) and no longer read: one index less to write.
DROP INDEX webhook_deliveries_due_idx;

CREATE OR REPLACE FUNCTION webhook_deliveries_due(p_limit integer)
RETURNS TABLE (id uuid, tenant_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  WITH RECURSIVE tenants_pending AS (
    (SELECT w.tenant_id FROM webhook_deliveries w WHERE w.status = 'pending' ORDER BY w.tenant_id LIMIT 1)
    UNION ALL
    SELECT (SELECT w.tenant_id FROM webhook_deliveries w
            WHERE w.status = 'pending' AND w.tenant_id > t.tenant_id ORDER BY w.tenant_id LIMIT 1)
    FROM tenants_pending t WHERE t.tenant_id IS NOT NULL
  )
  SELECT d.id, d.tenant_id
  FROM tenants_pending t
  CROSS JOIN LATERAL (
    SELECT w.id, w.tenant_id, w.next_attempt_at, row_number() OVER (ORDER BY w.next_attempt_at) AS turn
    FROM webhook_deliveries w
    WHERE w.tenant_id = t.tenant_id AND w.status = 'pending' AND w.next_attempt_at <= now()
      AND (w.leased_until IS NULL OR w.leased_until <= now())
    ORDER BY w.next_attempt_at LIMIT p_limit
  ) d
  WHERE t.tenant_id IS NOT NULL
  ORDER BY d.turn, d.next_attempt_at
  LIMIT p_limit
$$;

-- Down Migration
CREATE OR REPLACE FUNCTION webhook_deliveries_due(p_limit integer)
RETURNS TABLE (id uuid, tenant_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  WITH RECURSIVE tenants_pending AS (
    (SELECT w.tenant_id FROM webhook_deliveries w WHERE w.status = 'pending' ORDER BY w.tenant_id LIMIT 1)
    UNION ALL
    SELECT (SELECT w.tenant_id FROM webhook_deliveries w
            WHERE w.status = 'pending' AND w.tenant_id > t.tenant_id ORDER BY w.tenant_id LIMIT 1)
    FROM tenants_pending t WHERE t.tenant_id IS NOT NULL
  )
  SELECT d.id, d.tenant_id
  FROM tenants_pending t
  CROSS JOIN LATERAL (
    SELECT w.id, w.tenant_id, w.next_attempt_at, row_number() OVER (ORDER BY w.next_attempt_at) AS turn
    FROM webhook_deliveries w
    WHERE w.tenant_id = t.tenant_id AND w.status = 'pending' AND w.next_attempt_at <= now()
    ORDER BY w.next_attempt_at LIMIT p_limit
  ) d
  WHERE t.tenant_id IS NOT NULL
  ORDER BY d.turn, d.next_attempt_at
  LIMIT p_limit
$$;
-- Leases move next_attempt_at again: a leased row must not look due.
UPDATE webhook_deliveries SET next_attempt_at = leased_until WHERE leased_until > next_attempt_at;
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
DROP TRIGGER webhook_delivery_lease_ends ON webhook_deliveries;
DROP FUNCTION webhook_delivery_lease_ends();
ALTER TABLE webhook_deliveries RESET (fillfactor);
ALTER TABLE webhook_deliveries DROP COLUMN leased_until;
