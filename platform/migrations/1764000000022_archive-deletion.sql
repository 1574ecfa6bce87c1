-- Up Migration

-- Deletion of archived tickets after a tenant-chosen number of years (issue #14 item 5). An archived ticket (its hot
-- rows gone, its document and files in object storage, its `ticket_archives` row answering GET) whose closing is
-- older than its tenant's `archive_delete_after_years` is deleted for good: the metadata row goes, and its objects are
-- listed in pending_object_deletions (migration 021) in the same transaction, deleted once it has committed, and by the
-- data retention schedule if a crash came in between. Objects are never deleted before the row that points at them,
-- so a read never finds a row whose document is gone; a crash leaves keys pending, never an object nobody points to.
-- A legal hold keeps the archive; a hot (or restored) ticket is never deleted by this, whatever its age.

-- Years after closing (not after archiving: a retention period runs from the end of the matter, and neither the
-- tenant's archive age, a late archival run nor a restore and re-archive should stretch it). NULL, the default: kept
-- forever. There is no deployment-wide default: deleting a tenant's records is the tenant's decision.
ALTER TABLE tenants ADD COLUMN archive_delete_after_years integer CHECK (archive_delete_after_years BETWEEN 1 AND 100);

-- The deletion walks a tenant's archived tickets oldest closed first.
CREATE INDEX ticket_archives_closed_idx ON ticket_archives (tenant_id, closed_at, ticket_id) WHERE state = 'archived';

-- Candidates are found before any tenant is known: a narrow SECURITY DEFINER look-up that names rows only (each is then
-- deleted under its tenant, which checks everything again under the archive row's lock). Archived tickets of tenants
-- with a deletion age, closed longer ago than that, not under a legal hold, after the run's cursor, oldest closed first.
-- Per tenant, a range of its index up to its own cut-off, at most p_limit rows each: a backlog of millions costs a
-- batch no more than (tenants with a setting) × p_limit rows, and tenants without a setting cost nothing.
CREATE FUNCTION archive_deletion_candidates(p_after_closed_at timestamptz, p_after_id uuid, p_limit integer)
RETURNS TABLE (tenant_id uuid, ticket_id uuid, closed_at timestamptz, generation integer, location text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT d.tenant_id, d.ticket_id, d.closed_at, d.generation, d.location
  FROM tenants n
  CROSS JOIN LATERAL (
    SELECT a.tenant_id, a.ticket_id, a.closed_at, a.generation, a.location
    FROM ticket_archives a
    WHERE a.tenant_id = n.id AND a.state = 'archived'
      AND a.closed_at < now() - make_interval(years => n.archive_delete_after_years)
      AND (a.closed_at, a.ticket_id) > (coalesce(p_after_closed_at, '-infinity'::timestamptz), coalesce(p_after_id, '00000000-0000-0000-0000-000000000000'::uuid))
      AND NOT EXISTS (SELECT 1 FROM ticket_legal_holds h WHERE h.ticket_id = a.ticket_id AND h.tenant_id = a.tenant_id AND h.held)
    ORDER BY a.closed_at, a.ticket_id
    LIMIT p_limit
  ) d
  WHERE n.archive_delete_after_years IS NOT NULL
  ORDER BY d.closed_at, d.ticket_id
  LIMIT p_limit
$$;
REVOKE ALL ON FUNCTION archive_deletion_candidates(timestamptz, uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION archive_deletion_candidates(timestamptz, uuid, integer) TO deskflow_app;

-- A deleted ticket leaves nothing of its content behind: in the deletion's transaction, its audit entries and its
-- webhook events (the change feed keeps events forever) have their payloads redacted, as an erasure redacts them
-- (migration 020's redaction: the digest of what went is kept, the chain still verifies, and the deletion's own entry
-- records which entries it redacted). A later erasure of the customer could not find them (it finds entries through
-- the ticket and archive rows, which are gone).
-- An erasure replaces one customer's words; a deleted ticket has no content left to keep, so every string of a payload
-- goes, except under the keys below, whose values are codes, ids, times, hashes or counts (never anything a person
-- wrote): deny by default, so a field added later is redacted until it is listed here. Keys, structure, numbers,
-- booleans and nulls stay, so the entries still say which fields changed, when, and from which status to which.
CREATE FUNCTION redact_jsonb_except(p_doc jsonb, p_keep text[]) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  CASE jsonb_typeof(p_doc)
    WHEN 'string' THEN RETURN to_jsonb('[deleted]'::text);
    WHEN 'array' THEN
      RETURN coalesce((SELECT jsonb_agg(redact_jsonb_except(e, p_keep) ORDER BY i) FROM jsonb_array_elements(p_doc) WITH ORDINALITY AS x(e, i)), '[]'::jsonb);
    WHEN 'object' THEN
      -- A listed key keeps a string value; an object or array under it is redacted all the same (no content slips
      -- through a listed name).
      RETURN coalesce((SELECT jsonb_object_agg(k, CASE WHEN k = ANY (p_keep) AND jsonb_typeof(v) = 'string' THEN v ELSE redact_jsonb_except(v, p_keep) END)
                       FROM jsonb_each(p_doc) AS x(k, v)), '{}'::jsonb);
    ELSE RETURN p_doc;
  END CASE;
END $$;

/*
 * Deletes one archived ticket of the caller's tenant (app.tenant_id), in the caller's transaction. The one narrow door
 * (the application role has no DELETE); everything is checked here again, under the archive row's lock (a legal hold
 * being set, a restore and an erasure take it too, so none of them crosses a deletion):
 *   - the row is still `archived` (a restored ticket is hot: never deleted here) and of the generation the caller
 *     listed the objects of (`p_generation`);
 *   - the tenant has a deletion age and the ticket closed longer ago than that (now, not when it was listed: a tenant
 *     that lowered or cleared its setting meanwhile is obeyed);
 *   - no legal hold.
 * Objects: the document always; of `p_keys` (what the caller found under the ticket's archive folder) only those
 * under that folder (no `.` or `..` segment); the hot files an interrupted archival left (`source_keys`, not yet purged). All are recorded in
 * pending_object_deletions before the row goes; the caller deletes them after the commit. A lifted hold's row goes
 * too (the audit trail has its history); an audit entry (no subject: no personal data) records the deletion.
 * Returns {outcome, storage_keys}; outcome `deleted`, or why nothing changed: `gone` (deleted already: a re-run is
 * harmless), `restored`, `changed` (archived again since it was listed), `kept` (no deletion age), `not_due`,
 * `legal_hold`.
 *
 * In the same transaction, after the row is gone and before the deletion's own entry:
 *   - the ticket's audit entries (entity `ticket`, its id) of version 2 not yet redacted, whose payload holds anything
 *     beyond the listed keys, are redacted (redact_jsonb_except; payload_sha256 keeps the digest, the chain verifies);
 *     entries an erasure redacted already stay as the erasure left them (the customer's words gone; a redaction is done
 *     once); version 1 entries cannot be redacted and are counted;
 *   - the ticket's webhook events have their bodies redacted the same way (the feed keeps the events, not the content).
 *     Receivers' answers (webhook_attempts) are not touched: the delivery log purges them after 30 days
 *     (WEBHOOK_ATTEMPT_RETENTION), and a ticket is deleted a year or more after it closed;
 *   - the entry `ticket.archive_deleted` (never redacted: where, SHA-256, size, dates and counts, no subject) records
 *     the entries redacted (`redacted_seqs`, which `verify-audit` requires of every redaction), the version 1 entries
 *     kept (`legacy_audit_entries_kept`) and the webhook events redacted (`webhook_events_redacted`).
 */
CREATE FUNCTION archive_delete_ticket(p_ticket uuid, p_generation integer, p_keys text[])
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
REVOKE ALL ON FUNCTION archive_delete_ticket(uuid, integer, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION archive_delete_ticket(uuid, integer, text[]) TO deskflow_app;

-- Down Migration
DROP FUNCTION archive_delete_ticket(uuid, integer, text[]);
DROP FUNCTION redact_jsonb_except(jsonb, text[]);
DROP FUNCTION archive_deletion_candidates(timestamptz, uuid, integer);
DROP INDEX ticket_archives_closed_idx;
ALTER TABLE tenants DROP COLUMN archive_delete_after_years;
