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
  INSERT INTO audit_log (tenant_id, actor_type, actor_id, action, entity_type, entity_id, before, after, request_id)
  VALUES (v_tenant, 'system', 'data-retention', 'ticket.archive_deleted', 'ticket', p_ticket::text,
          jsonb_build_object('location', v_archive.location, 'sha256', v_archive.sha256, 'size', v_archive.size_bytes,
                             'closed_at', v_archive.closed_at, 'archived_at', v_archive.archived_at, 'generation', v_archive.generation,
                             'version', v_archive.ticket_version, 'messages', v_archive.message_count, 'attachments', v_archive.attachment_count),
          jsonb_build_object('delete_after_years', v_years, 'objects', cardinality(v_keys)), NULL);
  RETURN jsonb_build_object('outcome', 'deleted', 'storage_keys', to_jsonb(v_keys));
END $$;
REVOKE ALL ON FUNCTION archive_delete_ticket(uuid, integer, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION archive_delete_ticket(uuid, integer, text[]) TO deskflow_app;

-- Down Migration
DROP FUNCTION archive_delete_ticket(uuid, integer, text[]);
DROP FUNCTION archive_deletion_candidates(timestamptz, uuid, integer);
DROP INDEX ticket_archives_closed_idx;
ALTER TABLE tenants DROP COLUMN archive_delete_after_years;
