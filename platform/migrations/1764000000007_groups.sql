-- Up Migration

-- Agent groups (teams a ticket is routed to). Tickets and SLA escalations reference them by id,
-- so a group must exist in the ticket's tenant.
CREATE TABLE groups (
  id          uuid PRIMARY KEY,
  tenant_id   uuid NOT NULL REFERENCES tenants (id),
  name        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, id)
);
CREATE UNIQUE INDEX groups_tenant_name_idx ON groups (tenant_id, lower(name));

ALTER TABLE groups ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON groups USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
GRANT SELECT, INSERT, UPDATE ON groups TO deskflow_app;

-- Down Migration

DROP TABLE groups;
