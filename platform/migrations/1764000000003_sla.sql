-- Up Migration

-- Business-hours calendars and SLA policies: reference data, admin CRUD, versioned.
CREATE TABLE business_hours (
  id          uuid PRIMARY KEY,
  tenant_id   uuid NOT NULL REFERENCES tenants (id),
  name        text NOT NULL,
  time_zone   text NOT NULL,
  weekly      jsonb NOT NULL,
  holidays    jsonb NOT NULL DEFAULT '[]',
  version     integer NOT NULL DEFAULT 1,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, id)
);

CREATE TABLE sla_policies (
  id                uuid PRIMARY KEY,
  tenant_id         uuid NOT NULL REFERENCES tenants (id),
  name              text NOT NULL,
  position          integer NOT NULL,
  active            boolean NOT NULL DEFAULT true,
  conditions        jsonb NOT NULL DEFAULT '{}',
  targets           jsonb NOT NULL,
  calendar_id       uuid,
  pause_statuses    text[] NOT NULL DEFAULT '{pending,on_hold}',
  escalation_rules  jsonb NOT NULL DEFAULT '[]',
  version           integer NOT NULL DEFAULT 1,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, id),
  FOREIGN KEY (tenant_id, calendar_id) REFERENCES business_hours (tenant_id, id)
);
CREATE INDEX sla_policies_order_idx ON sla_policies (tenant_id, position, created_at);

-- Every version a ticket may have run under stays readable (explanations, reports).
CREATE TABLE sla_policy_versions (
  tenant_id   uuid NOT NULL,
  policy_id   uuid NOT NULL,
  version     integer NOT NULL,
  snapshot    jsonb NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (policy_id, version),
  FOREIGN KEY (tenant_id, policy_id) REFERENCES sla_policies (tenant_id, id)
);

-- The ticket projection gains its SLA state (served as is by GET) and the columns lists filter/sort on.
ALTER TABLE tickets
  ADD COLUMN sla jsonb,
  ADD COLUMN sla_policy_id uuid,
  ADD COLUMN next_sla_due_at timestamptz,
  ADD COLUMN sla_warned boolean NOT NULL DEFAULT false,
  ADD COLUMN sla_breached boolean NOT NULL DEFAULT false;
CREATE INDEX tickets_tenant_sla_due_idx ON tickets (tenant_id, (coalesce(next_sla_due_at, 'infinity'::timestamptz)), id);

-- One row per (ticket, metric, cycle): what reports aggregate.
CREATE TABLE ticket_sla (
  tenant_id       uuid NOT NULL,
  ticket_id       uuid NOT NULL,
  metric          text NOT NULL CHECK (metric IN ('first_reply', 'next_reply', 'resolution')),
  cycle           integer NOT NULL,
  policy_id       uuid NOT NULL,
  policy_version  integer NOT NULL,
  status          text NOT NULL,
  target_ms       double precision NOT NULL,
  started_at      timestamptz,
  due_at          timestamptz,
  paused_ms       double precision NOT NULL DEFAULT 0,
  warned_at       timestamptz,
  breached_at     timestamptz,
  achieved_at     timestamptz,
  business_ms     double precision NOT NULL DEFAULT 0,
  PRIMARY KEY (ticket_id, metric, cycle),
  FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets (tenant_id, id)
);
CREATE INDEX ticket_sla_report_idx ON ticket_sla (tenant_id, policy_id, metric);

ALTER TABLE business_hours ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON business_hours USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
ALTER TABLE sla_policies ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sla_policies USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
ALTER TABLE sla_policy_versions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sla_policy_versions USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
ALTER TABLE ticket_sla ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ticket_sla USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());

GRANT SELECT, INSERT, UPDATE ON business_hours, sla_policies, ticket_sla TO deskflow_app;
GRANT SELECT, INSERT ON sla_policy_versions TO deskflow_app;

-- Down Migration
DROP TABLE ticket_sla;
ALTER TABLE tickets DROP COLUMN sla, DROP COLUMN sla_policy_id, DROP COLUMN next_sla_due_at, DROP COLUMN sla_warned, DROP COLUMN sla_breached;
DROP TABLE sla_policy_versions;
DROP TABLE sla_policies;
DROP TABLE business_hours;
