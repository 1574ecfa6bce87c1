-- Up Migration

-- A user's credential epoch: raised when who they are changes (deactivated, demoted, password changed).
-- Sessions and access tokens carry the epoch they were issued under; an older one is refused.
ALTER TABLE users ADD COLUMN credential_epoch integer NOT NULL DEFAULT 0;

-- Emails are unique per tenant, not across the platform: a global index made POST /users an oracle for
-- which emails other tenants use. Login finds every account with the email (non-unique index).
DROP INDEX users_email_key;
CREATE UNIQUE INDEX users_tenant_email_key ON users (tenant_id, email);
CREATE INDEX users_email_idx ON users (email);

DROP FUNCTION auth_find_user(text);
CREATE FUNCTION auth_find_user(p_email text, p_tenant uuid DEFAULT NULL)
RETURNS TABLE (id uuid, tenant_id uuid, role text, password_hash text, active boolean, credential_epoch integer)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT id, tenant_id, role, password_hash, active, credential_epoch FROM users
  WHERE email = lower(p_email) AND (p_tenant IS NULL OR tenant_id = p_tenant)
  ORDER BY created_at, id
$$;
GRANT EXECUTE ON FUNCTION auth_find_user(text, uuid) TO deskflow_app;

-- Down Migration
DROP FUNCTION auth_find_user(text, uuid);
CREATE FUNCTION auth_find_user(p_email text)
RETURNS TABLE (id uuid, tenant_id uuid, role text, name text, password_hash text, active boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT id, tenant_id, role, name, password_hash, active FROM users WHERE email = lower(p_email)
$$;
GRANT EXECUTE ON FUNCTION auth_find_user(text) TO deskflow_app;
DROP INDEX users_email_idx;
DROP INDEX users_tenant_email_key;
-- Fails while an email belongs to several tenants: resolve those accounts first.
CREATE UNIQUE INDEX users_email_key ON users (email);
ALTER TABLE users DROP COLUMN credential_epoch;
