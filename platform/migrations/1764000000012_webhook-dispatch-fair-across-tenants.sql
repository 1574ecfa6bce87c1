-- Up Migration

-- The dispatcher took due deliveries oldest first across all tenants: one tenant's backlog (a burst, or an
-- endpoint coming back after an outage) made every other tenant wait behind it. Now each poll takes turns:
-- every tenant with due deliveries gets its oldest one before any tenant gets its second, and so on.
-- Tenants with pending deliveries are found by a skip scan (one index probe per tenant), not by reading
-- the backlog.
CREATE INDEX webhook_deliveries_due_tenant_idx ON webhook_deliveries (tenant_id, next_attempt_at) WHERE status = 'pending';

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

-- Down Migration
CREATE OR REPLACE FUNCTION webhook_deliveries_due(p_limit integer)
RETURNS TABLE (id uuid, tenant_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT id, tenant_id FROM webhook_deliveries
  WHERE status = 'pending' AND next_attempt_at <= now()
  ORDER BY next_attempt_at LIMIT p_limit
$$;
DROP INDEX webhook_deliveries_due_tenant_idx;
