-- Up Migration

-- Files stored before the write that carries them (an inbound email's attachments, issue #14 item 2) whose write ends
-- with an unknown outcome (503: the Workflow Update may still apply) must stay for it to link them, and must not stay
-- for ever if it never does and the provider never retries. So the API lists their keys here *before* storing the
-- bytes, as pending deletions not due before `keep_until`, and takes them off once the write has answered. Whatever
-- is left (a crash, an unknown outcome) is the data retention schedule's: due after `keep_until`, unless an attachment
-- row points at the key by then (the write applied after all), in which case the key is forgotten, not deleted.
ALTER TABLE pending_object_deletions ADD COLUMN keep_until timestamptz;

-- The API's one door in: keys of the caller's tenant's attachments only (app.tenant_id), held for a bounded time.
-- A key an erasure or an archive deletion listed keeps that listing (it is due now, not later).
CREATE FUNCTION hold_unconfirmed_uploads(p_keys text[], p_hold_seconds integer) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public AS $$
DECLARE
  v_tenant uuid := current_tenant_id();
  v_count integer;
BEGIN
  IF v_tenant IS NULL THEN RAISE EXCEPTION 'app.tenant_id is not set' USING ERRCODE = '42501'; END IF;
  IF p_hold_seconds IS NULL OR p_hold_seconds NOT BETWEEN 1 AND 30 * 86400 THEN
    RAISE EXCEPTION 'hold must be between 1 second and 30 days' USING ERRCODE = '22023';
  END IF;
  IF EXISTS (SELECT 1 FROM unnest(p_keys) k
             WHERE k IS NULL OR k !~ ('^attachments/' || v_tenant || '/[0-9a-f-]{36}/[0-9a-f-]{36}$')) THEN
    RAISE EXCEPTION 'not an attachment key of this tenant' USING ERRCODE = '42501';
  END IF;
  INSERT INTO pending_object_deletions (storage_key, reason, keep_until)
  SELECT DISTINCT k, 'unconfirmed upload', now() + make_interval(secs => p_hold_seconds) FROM unnest(p_keys) k
  ON CONFLICT (storage_key) DO UPDATE SET keep_until = EXCLUDED.keep_until, created_at = now()
    WHERE pending_object_deletions.reason = 'unconfirmed upload';
  GET DIAGNOSTICS v_count = ROW_COUNT;
  RETURN v_count;
END $$;

-- The write answered (applied or refused and tidied up): its holds go. Only this tenant's, only holds.
CREATE FUNCTION release_unconfirmed_uploads(p_keys text[]) RETURNS integer
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public AS $$
  WITH gone AS (
    DELETE FROM pending_object_deletions
    WHERE storage_key = ANY (p_keys) AND reason = 'unconfirmed upload'
      AND starts_with(storage_key, 'attachments/' || current_tenant_id() || '/')
    RETURNING 1)
  SELECT count(*)::integer FROM gone
$$;
REVOKE ALL ON FUNCTION hold_unconfirmed_uploads(text[], integer), release_unconfirmed_uploads(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hold_unconfirmed_uploads(text[], integer), release_unconfirmed_uploads(text[]) TO deskflow_app;

-- A multipart upload's files have rows (`stored`) before their message's write; a write that never applied leaves them
-- unlinked. The data retention schedule hands rows older than p_before (the same hold) over to the pending deletions,
-- listed as of the row's own age so the same run deletes the objects: rows first, in one statement, so an object is
-- never deleted while a row points at it. An update that applies even later inserts its rows again (the projection does
-- for missing ones), and the key is then forgotten instead of deleted if it was still pending.
-- The cut-off is the caller's, but never younger than an hour: the application role cannot take uploads still on their
-- way to their message (its own tenant's or another's) through this door.
CREATE FUNCTION expire_unlinked_attachments(p_before timestamptz, p_limit integer) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public AS $$
DECLARE
  v_count integer;
BEGIN
  IF p_before IS NULL OR p_before > now() - interval '1 hour' THEN
    RAISE EXCEPTION 'uploads are expired an hour after they were stored at the earliest' USING ERRCODE = '22023';
  END IF;
  -- Picked once (MATERIALIZED): as an IN (…) sub-select, the planner may run the LIMIT again per row and take more.
  WITH picked AS MATERIALIZED (
    SELECT id FROM attachments WHERE status = 'stored' AND created_at < p_before ORDER BY created_at LIMIT p_limit
    FOR UPDATE SKIP LOCKED),
  gone AS (
    DELETE FROM attachments a USING picked WHERE a.id = picked.id AND a.status = 'stored'
    RETURNING a.storage_key, a.created_at),
  listed AS (
    INSERT INTO pending_object_deletions (storage_key, reason, created_at)
    SELECT storage_key, 'unlinked upload', created_at FROM gone
    ON CONFLICT (storage_key) DO NOTHING)
  SELECT count(*)::integer INTO v_count FROM gone;
  RETURN v_count;
END $$;
REVOKE ALL ON FUNCTION expire_unlinked_attachments(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION expire_unlinked_attachments(timestamptz, integer) TO deskflow_app;

-- What is due: listed before p_before (the API deletes its own at once) and past any hold, oldest first. An object an
-- attachment row points to is never deleted: such a key (an upload whose write applied late) is forgotten instead.
CREATE OR REPLACE FUNCTION due_object_deletions(p_before timestamptz, p_limit integer) RETURNS SETOF text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public AS $$
BEGIN
  DELETE FROM pending_object_deletions p
  WHERE p.storage_key IN (SELECT d.storage_key FROM pending_object_deletions d
                          WHERE d.created_at < p_before AND (d.keep_until IS NULL OR d.keep_until < now())
                          ORDER BY d.created_at LIMIT p_limit)
    AND EXISTS (SELECT 1 FROM attachments a WHERE a.storage_key = p.storage_key);
  RETURN QUERY
    SELECT d.storage_key FROM pending_object_deletions d
    WHERE d.created_at < p_before AND (d.keep_until IS NULL OR d.keep_until < now())
    ORDER BY d.created_at LIMIT p_limit;
END $$;

-- Down Migration
CREATE OR REPLACE FUNCTION due_object_deletions(p_before timestamptz, p_limit integer) RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT storage_key FROM pending_object_deletions WHERE created_at < p_before ORDER BY created_at LIMIT p_limit
$$;
DROP FUNCTION expire_unlinked_attachments(timestamptz, integer);
DROP FUNCTION release_unconfirmed_uploads(text[]);
DROP FUNCTION hold_unconfirmed_uploads(text[], integer);
DELETE FROM pending_object_deletions WHERE reason IN ('unconfirmed upload', 'unlinked upload');
ALTER TABLE pending_object_deletions DROP COLUMN keep_until;
