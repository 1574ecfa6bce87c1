-- Up Migration

-- Audit entries whose payload can be erased (a customer's personal data, issue #14) without breaking the chain.
-- Entries written from now on (hash_version 2) hash their payload through its digest: sha256(prev | … | digest of
-- [before, after] | …). While the payload is there the digest is computed from it, so any edit of it shows, as before.
-- A redaction keeps the digest of the payload it removed (payload_sha256) and the hash then uses that: the chain
-- still verifies, every other field of the entry is still covered, and only the erased content is gone.
-- Entries written before (hash_version 1) hash the payload text itself: they cannot be redacted and stay as they are.
ALTER TABLE audit_log
  ADD COLUMN hash_version smallint NOT NULL DEFAULT 1 CHECK (hash_version IN (1, 2)),
  ADD COLUMN payload_sha256 text CHECK (payload_sha256 ~ '^[0-9a-f]{64}$'),
  ADD COLUMN redacted_at timestamptz,
  ADD CONSTRAINT audit_log_redaction_check CHECK ((redacted_at IS NULL) = (payload_sha256 IS NULL) AND (redacted_at IS NULL OR hash_version = 2));

CREATE FUNCTION audit_payload_sha256(p_before jsonb, p_after jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT encode(sha256(convert_to(jsonb_build_array(p_before, p_after)::text, 'UTF8')), 'hex')
$$;

CREATE OR REPLACE FUNCTION audit_entry_hash(a audit_log) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT encode(sha256(convert_to(CASE WHEN a.hash_version = 2 THEN concat_ws('|',
    'v2', a.prev_hash, a.tenant_id::text, a.seq::text, a.actor_type, coalesce(a.actor_id, ''), a.action, a.entity_type,
    coalesce(a.entity_id, ''),
    CASE WHEN a.redacted_at IS NULL THEN audit_payload_sha256(a.before, a.after) ELSE coalesce(a.payload_sha256, '') END,
    coalesce(a.request_id, ''), to_char(a.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
  ) ELSE concat_ws('|',
    a.prev_hash, a.tenant_id::text, a.seq::text, a.actor_type, coalesce(a.actor_id, ''), a.action, a.entity_type,
    coalesce(a.entity_id, ''), coalesce(a.before::text, 'null'), coalesce(a.after::text, 'null'),
    coalesce(a.request_id, ''), to_char(a.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
  ) END, 'UTF8')), 'hex')
$$;

CREATE OR REPLACE FUNCTION audit_log_chain() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
  last audit_log%ROWTYPE;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('audit:' || NEW.tenant_id::text));
  SELECT * INTO last FROM audit_log WHERE tenant_id = NEW.tenant_id ORDER BY seq DESC LIMIT 1;
  NEW.seq := coalesce(last.seq, 0) + 1;
  NEW.prev_hash := coalesce(last.hash, repeat('0', 64));
  NEW.occurred_at := clock_timestamp();
  NEW.hash_version := 2;
  NEW.payload_sha256 := NULL;
  NEW.redacted_at := NULL;
  NEW.hash := audit_entry_hash(NEW);
  RETURN NEW;
END $$;

-- Still append-only, with one exception: the redaction of a version-2 entry's payload, once, keeping the digest of
-- what it removed and every other column as it was. Only the erasure function asks for it (a transaction-local flag).
CREATE OR REPLACE FUNCTION audit_log_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Nested: OLD and NEW are only looked at for a row update (DELETE has no NEW, TRUNCATE neither).
  IF TG_OP = 'UPDATE' THEN
    IF current_setting('deskflow.audit_redaction', true) = 'on'
       AND OLD.hash_version = 2 AND OLD.redacted_at IS NULL AND NEW.redacted_at IS NOT NULL
       AND NEW.payload_sha256 = audit_payload_sha256(OLD.before, OLD.after)
       AND (NEW.tenant_id, NEW.seq, NEW.actor_type, NEW.actor_id, NEW.action, NEW.entity_type, NEW.entity_id, NEW.request_id,
            NEW.occurred_at, NEW.prev_hash, NEW.hash, NEW.hash_version)
           IS NOT DISTINCT FROM
           (OLD.tenant_id, OLD.seq, OLD.actor_type, OLD.actor_id, OLD.action, OLD.entity_type, OLD.entity_id, OLD.request_id,
            OLD.occurred_at, OLD.prev_hash, OLD.hash, OLD.hash_version) THEN
      RETURN NEW;
    END IF;
  END IF;
  RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;

GRANT EXECUTE ON FUNCTION audit_payload_sha256(jsonb, jsonb) TO deskflow_app;

-- Down Migration
-- Entries written under version 2 no longer verify after this (their hash covers a digest the old function does not compute).
CREATE OR REPLACE FUNCTION audit_log_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE OR REPLACE FUNCTION audit_log_chain() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
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
ALTER TABLE audit_log DROP CONSTRAINT audit_log_redaction_check;
ALTER TABLE audit_log DROP COLUMN redacted_at, DROP COLUMN payload_sha256, DROP COLUMN hash_version;
CREATE OR REPLACE FUNCTION audit_entry_hash(a audit_log) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT encode(sha256(convert_to(concat_ws('|',
    a.prev_hash, a.tenant_id::text, a.seq::text, a.actor_type, coalesce(a.actor_id, ''), a.action, a.entity_type,
    coalesce(a.entity_id, ''), coalesce(a.before::text, 'null'), coalesce(a.after::text, 'null'),
    coalesce(a.request_id, ''), to_char(a.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
  ), 'UTF8')), 'hex')
$$;
DROP FUNCTION audit_payload_sha256(jsonb, jsonb);
