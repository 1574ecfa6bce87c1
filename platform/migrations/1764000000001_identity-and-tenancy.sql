-- Up Migration

-- The application connects as deskflow_app: no DDL, no DELETE, RLS enforced (it owns nothing).
-- Migrations and the admin CLI run as the owner (DATABASE_ADMIN_URL).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'deskflow_app') THEN
    CREATE ROLE deskflow_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
  END IF;
END $$;

ALTER TABLE tenants ADD COLUMN rate_limit_per_min integer CHECK (rate_limit_per_min > 0);
ALTER TABLE tenants ADD COLUMN inbound_secret_enc text;

-- Customer PII is encrypted by the application (AES-256-GCM, key id inside the value);
-- email is found through a keyed blind index (HMAC) instead.
DROP INDEX customers_tenant_email_key;
ALTER TABLE customers DROP COLUMN email, DROP COLUMN phone;
ALTER TABLE customers ADD COLUMN email_enc text, ADD COLUMN email_bidx text, ADD COLUMN phone_enc text;
CREATE UNIQUE INDEX customers_tenant_email_bidx_key ON customers (tenant_id, email_bidx) WHERE email_bidx IS NOT NULL;

-- Email Message-IDs, so an inbound reply threads onto its ticket.
ALTER TABLE messages ADD COLUMN external_id text;
CREATE UNIQUE INDEX messages_tenant_external_id_key ON messages (tenant_id, external_id) WHERE external_id IS NOT NULL;

CREATE TABLE users (
  id             uuid PRIMARY KEY,
  tenant_id      uuid NOT NULL REFERENCES tenants (id),
  email          text NOT NULL CHECK (email = lower(email)),
  name           text NOT NULL,
  role           text NOT NULL CHECK (role IN ('admin', 'agent')),
  password_hash  text NOT NULL,
  active         boolean NOT NULL DEFAULT true,
  version        integer NOT NULL DEFAULT 1,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, id)
);
-- One login per email across the platform: login needs no tenant hint.
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE INDEX users_tenant_page_idx ON users (tenant_id, created_at DESC, id DESC);

CREATE TABLE api_keys (
  id                  uuid PRIMARY KEY,
  tenant_id           uuid NOT NULL REFERENCES tenants (id),
  name                text NOT NULL,
  key_id              text NOT NULL UNIQUE,   -- the public part shown in the key: dfk_<key_id>_<secret>
  secret_hash         text NOT NULL,          -- sha256 of a 256-bit random secret
  scopes              text[] NOT NULL,
  rate_limit_per_min  integer CHECK (rate_limit_per_min > 0),
  created_by          text,
  created_at          timestamptz NOT NULL DEFAULT now(),
  last_used_at        timestamptz,
  revoked_at          timestamptz
);
CREATE INDEX api_keys_tenant_page_idx ON api_keys (tenant_id, created_at DESC, id DESC);

-- JWT signing keys (ES256). Private halves are encrypted like PII; public halves feed the JWKS.
CREATE TABLE signing_keys (
  kid              text PRIMARY KEY,
  alg              text NOT NULL,
  public_jwk       jsonb NOT NULL,
  private_jwk_enc  text NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now()
);

-- Append-only, hash-chained audit trail (one chain per tenant). The trigger assigns seq, time and hashes,
-- so the application cannot forge them; UPDATE and DELETE are refused to everyone.
CREATE TABLE audit_log (
  tenant_id    uuid NOT NULL REFERENCES tenants (id),
  seq          bigint NOT NULL,
  actor_type   text NOT NULL,
  actor_id     text,
  action       text NOT NULL,
  entity_type  text NOT NULL,
  entity_id    text,
  before       jsonb,
  after        jsonb,
  request_id   text,
  occurred_at  timestamptz NOT NULL,
  prev_hash    text NOT NULL,
  hash         text NOT NULL,
  PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX audit_log_entity_idx ON audit_log (tenant_id, entity_type, entity_id, seq DESC);

CREATE FUNCTION audit_entry_hash(a audit_log) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT encode(sha256(convert_to(concat_ws('|',
    a.prev_hash, a.tenant_id::text, a.seq::text, a.actor_type, coalesce(a.actor_id, ''), a.action, a.entity_type,
    coalesce(a.entity_id, ''), coalesce(a.before::text, 'null'), coalesce(a.after::text, 'null'),
    coalesce(a.request_id, ''), to_char(a.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
  ), 'UTF8')), 'hex')
$$;

CREATE FUNCTION audit_log_chain() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
  last audit_log%ROWTYPE;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('audit:' || NEW.tenant_id::text));
  SELECT * INTO last FROM audit_log WHERE tenant_id = NEW.tenant_id ORDER BY seq DESC LIMIT 1;
  NEW.seq := coalesce(last.seq, 0) + 1;
  NEW.prev_hash := coalesce(last.hash, repeat('0', 64));
  NEW.occurred_at := clock_timestamp();
  NEW.hash := audit_entry_hash(NEW);
  RETURN NEW;
END $$;
CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_chain();

CREATE FUNCTION audit_log_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_immutable BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_immutable();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_immutable();

-- Row-level security: the second wall behind every query's own tenant filter.
-- The application sets app.tenant_id per connection checkout (platform/tenant-db.ts).
CREATE FUNCTION current_tenant_id() RETURNS uuid LANGUAGE sql STABLE AS $$
  SELECT nullif(current_setting('app.tenant_id', true), '')::uuid
$$;

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants USING (id = current_tenant_id()) WITH CHECK (id = current_tenant_id());
ALTER TABLE customers ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON customers USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
ALTER TABLE tickets ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tickets USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
ALTER TABLE messages ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON messages USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
ALTER TABLE ticket_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ticket_events USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON users USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_keys USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_log USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());

-- Credential lookups happen before the tenant is known: narrow SECURITY DEFINER functions, nothing wider.
CREATE FUNCTION auth_find_user(p_email text)
RETURNS TABLE (id uuid, tenant_id uuid, role text, name text, password_hash text, active boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT id, tenant_id, role, name, password_hash, active FROM users WHERE email = lower(p_email)
$$;

CREATE FUNCTION auth_find_api_key(p_key_id text)
RETURNS TABLE (id uuid, tenant_id uuid, secret_hash text, scopes text[], rate_limit_per_min integer, revoked_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT id, tenant_id, secret_hash, scopes, rate_limit_per_min, revoked_at FROM api_keys WHERE key_id = p_key_id
$$;

CREATE FUNCTION auth_touch_api_key(p_id uuid) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public AS $$
  UPDATE api_keys SET last_used_at = now() WHERE id = p_id
$$;

CREATE FUNCTION inbound_tenant(p_tenant uuid) RETURNS TABLE (id uuid, inbound_secret_enc text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT id, inbound_secret_enc FROM tenants WHERE id = p_tenant
$$;

-- Least privilege for the application role.
GRANT USAGE ON SCHEMA public TO deskflow_app;
GRANT SELECT, UPDATE ON tenants TO deskflow_app;
GRANT SELECT, INSERT, UPDATE ON customers, tickets, users, api_keys TO deskflow_app;
GRANT SELECT, INSERT ON messages, ticket_events, audit_log TO deskflow_app;
GRANT SELECT, INSERT ON signing_keys TO deskflow_app;
GRANT EXECUTE ON FUNCTION auth_find_user(text), auth_find_api_key(text), auth_touch_api_key(uuid), inbound_tenant(uuid),
  current_tenant_id(), audit_entry_hash(audit_log) TO deskflow_app;

-- Down Migration
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM deskflow_app;
DROP FUNCTION inbound_tenant(uuid);
DROP FUNCTION auth_touch_api_key(uuid);
DROP FUNCTION auth_find_api_key(text);
DROP FUNCTION auth_find_user(text);
DROP TABLE audit_log;
DROP FUNCTION audit_log_immutable();
DROP FUNCTION audit_log_chain();
DROP FUNCTION audit_entry_hash(audit_log);
DROP TABLE signing_keys;
DROP TABLE api_keys;
DROP TABLE users;
ALTER TABLE messages DROP COLUMN external_id;
ALTER TABLE customers DROP COLUMN email_enc, DROP COLUMN email_bidx, DROP COLUMN phone_enc;
ALTER TABLE customers ADD COLUMN email text, ADD COLUMN phone text;
ALTER TABLE tenants DROP COLUMN rate_limit_per_min, DROP COLUMN inbound_secret_enc;
DO $$ DECLARE t text; BEGIN
  FOREACH t IN ARRAY ARRAY['tenants','customers','tickets','messages','ticket_events'] LOOP
    EXECUTE format('DROP POLICY tenant_isolation ON %I', t);
    EXECUTE format('ALTER TABLE %I DISABLE ROW LEVEL SECURITY', t);
  END LOOP;
END $$;
DROP FUNCTION current_tenant_id();
