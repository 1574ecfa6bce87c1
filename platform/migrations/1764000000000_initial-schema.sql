-- Up Migration

-- Every row carries tenant_id; composite foreign keys keep a ticket and its customer in one tenant.
CREATE TABLE tenants (
  id          uuid PRIMARY KEY,
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE customers (
  id           uuid PRIMARY KEY,
  tenant_id    uuid NOT NULL REFERENCES tenants (id),
  name         text NOT NULL,
  email        text,
  phone        text,
  external_id  text,
  version      integer NOT NULL DEFAULT 1,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, id)
);
CREATE UNIQUE INDEX customers_tenant_email_key ON customers (tenant_id, lower(email)) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX customers_tenant_external_id_key ON customers (tenant_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX customers_tenant_page_idx ON customers (tenant_id, created_at DESC, id DESC);

-- The query projection of ticket workflows: written only by activities, guarded by version.
CREATE TABLE tickets (
  id                    uuid PRIMARY KEY,
  tenant_id             uuid NOT NULL REFERENCES tenants (id),
  subject               text NOT NULL,
  description           text NOT NULL,
  status                text NOT NULL CHECK (status IN ('new', 'open', 'pending', 'on_hold', 'solved', 'closed')),
  priority              text NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
  channel               text NOT NULL,
  customer_id           uuid NOT NULL,
  assignee_id           uuid,
  group_id              uuid,
  tags                  text[] NOT NULL DEFAULT '{}',
  version               integer NOT NULL CHECK (version > 0),
  created_at            timestamptz NOT NULL,
  updated_at            timestamptz NOT NULL,
  first_agent_reply_at  timestamptz,
  solved_at             timestamptz,
  closed_at             timestamptz,
  UNIQUE (tenant_id, id),
  FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
-- List queries: newest first, keyset-paginated on (created_at, id), optionally filtered.
CREATE INDEX tickets_tenant_page_idx ON tickets (tenant_id, created_at DESC, id DESC);
CREATE INDEX tickets_tenant_status_idx ON tickets (tenant_id, status, created_at DESC, id DESC);
CREATE INDEX tickets_tenant_priority_idx ON tickets (tenant_id, priority, created_at DESC, id DESC);
CREATE INDEX tickets_tenant_assignee_idx ON tickets (tenant_id, assignee_id, created_at DESC, id DESC);
CREATE INDEX tickets_tenant_customer_idx ON tickets (tenant_id, customer_id, created_at DESC, id DESC);
CREATE INDEX tickets_tags_idx ON tickets USING gin (tags);

CREATE TABLE messages (
  id           uuid PRIMARY KEY,
  tenant_id    uuid NOT NULL,
  ticket_id    uuid NOT NULL,
  visibility   text NOT NULL CHECK (visibility IN ('public', 'internal')),
  author_type  text NOT NULL CHECK (author_type IN ('agent', 'customer', 'system')),
  author_id    text,
  body         text NOT NULL,
  created_at   timestamptz NOT NULL,
  FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets (tenant_id, id)
);
CREATE INDEX messages_ticket_page_idx ON messages (tenant_id, ticket_id, created_at, id);

-- The timeline: exactly one event per ticket version.
CREATE TABLE ticket_events (
  tenant_id    uuid NOT NULL,
  ticket_id    uuid NOT NULL,
  version      integer NOT NULL,
  type         text NOT NULL,
  actor_type   text NOT NULL,
  actor_id     text,
  changes      jsonb NOT NULL DEFAULT '{}',
  data         jsonb NOT NULL DEFAULT '{}',
  occurred_at  timestamptz NOT NULL,
  PRIMARY KEY (ticket_id, version),
  FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets (tenant_id, id)
);
CREATE INDEX ticket_events_tenant_ticket_idx ON ticket_events (tenant_id, ticket_id, version);

-- Down Migration
DROP TABLE ticket_events;
DROP TABLE messages;
DROP TABLE tickets;
DROP TABLE customers;
DROP TABLE tenants;
