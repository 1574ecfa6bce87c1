-- Up Migration

-- A policy or calendar change and the rollout it owes its open tickets commit together (an outbox):
-- a crash between the commit and the start of the rollout workflow loses nothing. A relay in the worker
-- starts each pending row's workflow under the row's id (a second start finds the first) and marks it.
CREATE TABLE sla_rollout_outbox (
  workflow_id  text PRIMARY KEY,
  tenant_id    uuid NOT NULL REFERENCES tenants (id),
  task_queue   text NOT NULL,
  input        jsonb NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  started_at   timestamptz
);
CREATE INDEX sla_rollout_outbox_pending_idx ON sla_rollout_outbox (task_queue, created_at) WHERE started_at IS NULL;

ALTER TABLE sla_rollout_outbox ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sla_rollout_outbox USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
GRANT SELECT, INSERT, UPDATE ON sla_rollout_outbox TO deskflow_app;

-- The relay looks for pending rows before any tenant is known: a narrow SECURITY DEFINER look-up.
-- Each relay takes the rows of its own task queue (where the API that wrote them runs its workflows).
CREATE FUNCTION sla_rollout_pending(p_task_queue text, p_older_than interval, p_limit integer)
RETURNS TABLE (workflow_id text, tenant_id uuid, input jsonb)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT workflow_id, tenant_id, input FROM sla_rollout_outbox
  WHERE task_queue = p_task_queue AND started_at IS NULL AND created_at <= now() - p_older_than
  ORDER BY created_at LIMIT p_limit
$$;
GRANT EXECUTE ON FUNCTION sla_rollout_pending(text, interval, integer) TO deskflow_app;

-- The rollout reads the open tickets under a policy from the projection.
CREATE INDEX tickets_tenant_sla_policy_idx ON tickets (tenant_id, sla_policy_id, id) WHERE status <> 'closed';

-- Down Migration
DROP INDEX tickets_tenant_sla_policy_idx;
DROP FUNCTION sla_rollout_pending(text, interval, integer);
DROP TABLE sla_rollout_outbox;
