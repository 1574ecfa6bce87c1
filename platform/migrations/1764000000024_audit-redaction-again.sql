-- Up Migration

-- An archived ticket deleted for its age (migration 022) had its audit entries redacted down to codes, ids and times,
-- except the entries a customer erasure had redacted before (migration 020 allowed one redaction per entry): those kept
-- the rest of the ticket's content (agents' words, tags, the erasure's "[erased]" marks around what remained) after the
-- ticket itself was gone. A version 2 entry may now be redacted again: the digest of the payload as first written is
-- kept (payload_sha256, which the chain's hash covers), so the chain still verifies, and every redaction is still
-- recorded by the `customer.erased` or `ticket.archive_deleted` entry that did it (verify-audit checks both).

CREATE OR REPLACE FUNCTION audit_log_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Nested: OLD and NEW are only looked at for a row update (DELETE has no NEW, TRUNCATE neither).
  IF TG_OP = 'UPDATE' THEN
    IF current_setting('deskflow.audit_redaction', true) = 'on'
       AND OLD.hash_version = 2 AND NEW.redacted_at IS NOT NULL
       -- The digest of the payload as written, whichever redaction this is: the first computes it, a later one keeps it.
       AND NEW.payload_sha256 = coalesce(OLD.payload_sha256, audit_payload_sha256(OLD.before, OLD.after))
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

CREATE OR REPLACE FUNCTION archive_delete_ticket(p_ticket uuid, p_generation integer, p_keys text[])
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public AS $$
DECLARE
  v_tenant uuid := current_tenant_id();
  v_archive ticket_archives%ROWTYPE;
  v_years integer;
  v_folder text;
  v_keys text[];
  -- Values kept in the redacted payloads: codes, ids, times, hashes (see redact_jsonb_except).
  c_keep constant text[] := ARRAY[
    'id', 'ticket_id', 'message_id', 'customer_id', 'assignee_id', 'group_id', 'author_id', 'type', 'status', 'priority', 'channel',
    'visibility', 'author_type', 'metric', 'timestamp', 'created_at', 'updated_at', 'closed_at', 'solved_at', 'first_agent_reply_at',
    'due_at', 'archived_at', 'restored_at', 'location', 'sha256'];
  v_redacted bigint[];
  v_legacy integer;
  v_events integer;
BEGIN
  IF v_tenant IS NULL THEN
    RAISE EXCEPTION 'archive_delete_ticket needs app.tenant_id' USING ERRCODE = 'insufficient_privilege';
  END IF;
  SELECT * INTO v_archive FROM ticket_archives WHERE tenant_id = v_tenant AND ticket_id = p_ticket FOR UPDATE;
  IF NOT FOUND THEN RETURN jsonb_build_object('outcome', 'gone', 'storage_keys', '[]'::jsonb); END IF;
  IF v_archive.state <> 'archived' THEN RETURN jsonb_build_object('outcome', 'restored', 'storage_keys', '[]'::jsonb); END IF;
  IF v_archive.generation <> p_generation THEN RETURN jsonb_build_object('outcome', 'changed', 'storage_keys', '[]'::jsonb); END IF;
  SELECT archive_delete_after_years INTO v_years FROM tenants WHERE id = v_tenant;
  IF v_years IS NULL THEN RETURN jsonb_build_object('outcome', 'kept', 'storage_keys', '[]'::jsonb); END IF;
  IF v_archive.closed_at >= now() - make_interval(years => v_years) THEN
    RETURN jsonb_build_object('outcome', 'not_due', 'storage_keys', '[]'::jsonb);
  END IF;
  IF EXISTS (SELECT 1 FROM ticket_legal_holds WHERE tenant_id = v_tenant AND ticket_id = p_ticket AND held) THEN
    RETURN jsonb_build_object('outcome', 'legal_hold', 'storage_keys', '[]'::jsonb);
  END IF;
  -- `archive/<tenant>/<yyyy>/<mm>/<ticket>/ticket.json`: the folder is the ticket's, and only its keys are taken.
  IF NOT starts_with(v_archive.location, 'archive/' || v_tenant || '/') OR right(v_archive.location, length('/' || p_ticket || '/ticket.json')) <> '/' || p_ticket || '/ticket.json' THEN
    RAISE EXCEPTION 'archive % of ticket % is not where archives are kept', v_archive.location, p_ticket USING ERRCODE = 'data_exception';
  END IF;
  v_folder := left(v_archive.location, length(v_archive.location) - length('ticket.json'));
  v_keys := ARRAY(
    SELECT DISTINCT k FROM unnest(
      ARRAY[v_archive.location]
      || ARRAY(SELECT k FROM unnest(coalesce(p_keys, '{}')) k WHERE starts_with(k, v_folder) AND k !~ '(^|/)\.\.?(/|$)')
      || ARRAY(SELECT k FROM unnest(v_archive.source_keys) k
               WHERE v_archive.sources_purged_at IS NULL AND starts_with(k, 'attachments/' || v_tenant || '/' || p_ticket || '/'))
    ) k ORDER BY k);
  INSERT INTO pending_object_deletions (storage_key, reason)
  SELECT k, 'archive retention' FROM unnest(v_keys) k ON CONFLICT DO NOTHING;
  DELETE FROM ticket_legal_holds WHERE tenant_id = v_tenant AND ticket_id = p_ticket AND NOT held;
  DELETE FROM ticket_archives WHERE tenant_id = v_tenant AND ticket_id = p_ticket;

  -- The ticket's audit entries (audit_log_entity_idx), as an erasure redacts them (migration 020's exception).
  PERFORM set_config('deskflow.audit_redaction', 'on', true);
  WITH redacted AS (
    -- Entries an erasure redacted already are redacted again, down to the same kept values: they keep the digest of
    -- what they first held (the chain verifies) and no longer the rest of the ticket's content.
    UPDATE audit_log SET before = redact_jsonb_except(before, c_keep), after = redact_jsonb_except(after, c_keep),
                         payload_sha256 = coalesce(payload_sha256, audit_payload_sha256(before, after)), redacted_at = now()
    WHERE tenant_id = v_tenant AND entity_type = 'ticket' AND entity_id = p_ticket::text AND hash_version = 2
      AND (redact_jsonb_except(before, c_keep) IS DISTINCT FROM before OR redact_jsonb_except(after, c_keep) IS DISTINCT FROM after)
    RETURNING seq
  )
  SELECT coalesce(array_agg(seq ORDER BY seq), '{}') INTO v_redacted FROM redacted;
  PERFORM set_config('deskflow.audit_redaction', 'off', true);
  SELECT count(*) INTO v_legacy FROM audit_log
  WHERE tenant_id = v_tenant AND entity_type = 'ticket' AND entity_id = p_ticket::text AND hash_version = 1
    AND (redact_jsonb_except(before, c_keep) IS DISTINCT FROM before OR redact_jsonb_except(after, c_keep) IS DISTINCT FROM after);
  -- Its webhook events (the `(ticket_id, ticket_version, type)` key's index): the feed keeps them, without content.
  UPDATE webhook_events SET body = redact_jsonb_except(body::jsonb, c_keep)::text
  WHERE tenant_id = v_tenant AND ticket_id = p_ticket AND body::jsonb IS DISTINCT FROM redact_jsonb_except(body::jsonb, c_keep);
  GET DIAGNOSTICS v_events = ROW_COUNT;

  INSERT INTO audit_log (tenant_id, actor_type, actor_id, action, entity_type, entity_id, before, after, request_id)
  VALUES (v_tenant, 'system', 'data-retention', 'ticket.archive_deleted', 'ticket', p_ticket::text,
          jsonb_build_object('location', v_archive.location, 'sha256', v_archive.sha256, 'size', v_archive.size_bytes,
                             'closed_at', v_archive.closed_at, 'archived_at', v_archive.archived_at, 'generation', v_archive.generation,
                             'version', v_archive.ticket_version, 'messages', v_archive.message_count, 'attachments', v_archive.attachment_count),
          jsonb_build_object('delete_after_years', v_years, 'objects', cardinality(v_keys), 'redacted_seqs', to_jsonb(v_redacted),
                             'legacy_audit_entries_kept', v_legacy, 'webhook_events_redacted', v_events), NULL);
  RETURN jsonb_build_object('outcome', 'deleted', 'storage_keys', to_jsonb(v_keys));
END $$;

-- Down Migration
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

CREATE OR REPLACE FUNCTION archive_delete_ticket(p_ticket uuid, p_generation integer, p_keys text[])
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public AS $$
DECLARE
  v_tenant uuid := current_tenant_id();
  v_archive ticket_archives%ROWTYPE;
  v_years integer;
  v_folder text;
  v_keys text[];
  -- Values kept in the redacted payloads: codes, ids, times, hashes (see redact_jsonb_except).
  c_keep constant text[] := ARRAY[
    'id', 'ticket_id', 'message_id', 'customer_id', 'assignee_id', 'group_id', 'author_id', 'type', 'status', 'priority', 'channel',
    'visibility', 'author_type', 'metric', 'timestamp', 'created_at', 'updated_at', 'closed_at', 'solved_at', 'first_agent_reply_at',
    'due_at', 'archived_at', 'restored_at', 'location', 'sha256'];
  v_redacted bigint[];
  v_legacy integer;
  v_events integer;
BEGIN
  IF v_tenant IS NULL THEN
    RAISE EXCEPTION 'archive_delete_ticket needs app.tenant_id' USING ERRCODE = 'insufficient_privilege';
  END IF;
  SELECT * INTO v_archive FROM ticket_archives WHERE tenant_id = v_tenant AND ticket_id = p_ticket FOR UPDATE;
  IF NOT FOUND THEN RETURN jsonb_build_object('outcome', 'gone', 'storage_keys', '[]'::jsonb); END IF;
  IF v_archive.state <> 'archived' THEN RETURN jsonb_build_object('outcome', 'restored', 'storage_keys', '[]'::jsonb); END IF;
  IF v_archive.generation <> p_generation THEN RETURN jsonb_build_object('outcome', 'changed', 'storage_keys', '[]'::jsonb); END IF;
  SELECT archive_delete_after_years INTO v_years FROM tenants WHERE id = v_tenant;
  IF v_years IS NULL THEN RETURN jsonb_build_object('outcome', 'kept', 'storage_keys', '[]'::jsonb); END IF;
  IF v_archive.closed_at >= now() - make_interval(years => v_years) THEN
    RETURN jsonb_build_object('outcome', 'not_due', 'storage_keys', '[]'::jsonb);
  END IF;
  IF EXISTS (SELECT 1 FROM ticket_legal_holds WHERE tenant_id = v_tenant AND ticket_id = p_ticket AND held) THEN
    RETURN jsonb_build_object('outcome', 'legal_hold', 'storage_keys', '[]'::jsonb);
  END IF;
  -- `archive/<tenant>/<yyyy>/<mm>/<ticket>/ticket.json`: the folder is the ticket's, and only its keys are taken.
  IF NOT starts_with(v_archive.location, 'archive/' || v_tenant || '/') OR right(v_archive.location, length('/' || p_ticket || '/ticket.json')) <> '/' || p_ticket || '/ticket.json' THEN
    RAISE EXCEPTION 'archive % of ticket % is not where archives are kept', v_archive.location, p_ticket USING ERRCODE = 'data_exception';
  END IF;
  v_folder := left(v_archive.location, length(v_archive.location) - length('ticket.json'));
  v_keys := ARRAY(
    SELECT DISTINCT k FROM unnest(
      ARRAY[v_archive.location]
      || ARRAY(SELECT k FROM unnest(coalesce(p_keys, '{}')) k WHERE starts_with(k, v_folder) AND k !~ '(^|/)\.\.?(/|$)')
      || ARRAY(SELECT k FROM unnest(v_archive.source_keys) k
               WHERE v_archive.sources_purged_at IS NULL AND starts_with(k, 'attachments/' || v_tenant || '/' || p_ticket || '/'))
    ) k ORDER BY k);
  INSERT INTO pending_object_deletions (storage_key, reason)
  SELECT k, 'archive retention' FROM unnest(v_keys) k ON CONFLICT DO NOTHING;
  DELETE FROM ticket_legal_holds WHERE tenant_id = v_tenant AND ticket_id = p_ticket AND NOT held;
  DELETE FROM ticket_archives WHERE tenant_id = v_tenant AND ticket_id = p_ticket;

  -- The ticket's audit entries (audit_log_entity_idx), as an erasure redacts them (migration 020's exception).
  PERFORM set_config('deskflow.audit_redaction', 'on', true);
  WITH redacted AS (
    UPDATE audit_log SET before = redact_jsonb_except(before, c_keep), after = redact_jsonb_except(after, c_keep),
                         payload_sha256 = audit_payload_sha256(before, after), redacted_at = now()
    WHERE tenant_id = v_tenant AND entity_type = 'ticket' AND entity_id = p_ticket::text AND hash_version = 2 AND redacted_at IS NULL
      AND (redact_jsonb_except(before, c_keep) IS DISTINCT FROM before OR redact_jsonb_except(after, c_keep) IS DISTINCT FROM after)
    RETURNING seq
  )
  SELECT coalesce(array_agg(seq ORDER BY seq), '{}') INTO v_redacted FROM redacted;
  PERFORM set_config('deskflow.audit_redaction', 'off', true);
  SELECT count(*) INTO v_legacy FROM audit_log
  WHERE tenant_id = v_tenant AND entity_type = 'ticket' AND entity_id = p_ticket::text AND hash_version = 1
    AND (redact_jsonb_except(before, c_keep) IS DISTINCT FROM before OR redact_jsonb_except(after, c_keep) IS DISTINCT FROM after);
  -- Its webhook events (the `(ticket_id, ticket_version, type)` key's index): the feed keeps them, without content.
  UPDATE webhook_events SET body = redact_jsonb_except(body::jsonb, c_keep)::text
  WHERE tenant_id = v_tenant AND ticket_id = p_ticket AND body::jsonb IS DISTINCT FROM redact_jsonb_except(body::jsonb, c_keep);
  GET DIAGNOSTICS v_events = ROW_COUNT;

  INSERT INTO audit_log (tenant_id, actor_type, actor_id, action, entity_type, entity_id, before, after, request_id)
  VALUES (v_tenant, 'system', 'data-retention', 'ticket.archive_deleted', 'ticket', p_ticket::text,
          jsonb_build_object('location', v_archive.location, 'sha256', v_archive.sha256, 'size', v_archive.size_bytes,
                             'closed_at', v_archive.closed_at, 'archived_at', v_archive.archived_at, 'generation', v_archive.generation,
                             'version', v_archive.ticket_version, 'messages', v_archive.message_count, 'attachments', v_archive.attachment_count),
          jsonb_build_object('delete_after_years', v_years, 'objects', cardinality(v_keys), 'redacted_seqs', to_jsonb(v_redacted),
                             'legacy_audit_entries_kept', v_legacy, 'webhook_events_redacted', v_events), NULL);
  RETURN jsonb_build_object('outcome', 'deleted', 'storage_keys', to_jsonb(v_keys));
END $$;
