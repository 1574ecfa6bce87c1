-- Up Migration

-- Erasure of a customer's personal data (GDPR art. 17; issue #14). The customer row stays (tickets point at it),
-- emptied of everything that identifies them, and marked: an erased customer takes no new ticket and no edit.
ALTER TABLE customers ADD COLUMN erased_at timestamptz;

-- Objects whose rows are gone and whose bytes must go too. Objects cannot be deleted in a transaction: the erasure
-- records their keys here in its own, the API deletes them once it has committed, and the data retention schedule
-- deletes whatever a crash left behind. Nothing but the key (no file name, no content); the application role has no
-- privilege on it at all, only the narrow functions below.
CREATE TABLE pending_object_deletions (
  storage_key  text PRIMARY KEY,
  reason       text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pending_object_deletions_age_idx ON pending_object_deletions (created_at);

-- Replaces every case-insensitive occurrence of each needle (taken literally: `***=`) by [erased]. Longer needles
-- first, so a message body goes whole before a name inside it is looked for.
CREATE FUNCTION redact_text(p_text text, p_needles text[]) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  needle text;
BEGIN
  IF p_text IS NULL THEN RETURN NULL; END IF;
  FOR needle IN SELECT n FROM unnest(p_needles) n WHERE length(n) >= 3 ORDER BY length(n) DESC LOOP
    p_text := regexp_replace(p_text, '***=' || needle, '[erased]', 'gi');
  END LOOP;
  RETURN p_text;
END $$;

-- The same over every string value of a JSON document (keys and structure stay).
CREATE FUNCTION redact_jsonb(p_doc jsonb, p_needles text[]) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  CASE jsonb_typeof(p_doc)
    WHEN 'string' THEN RETURN to_jsonb(redact_text(p_doc #>> '{}', p_needles));
    WHEN 'array' THEN
      RETURN coalesce((SELECT jsonb_agg(redact_jsonb(e, p_needles) ORDER BY i) FROM jsonb_array_elements(p_doc) WITH ORDINALITY AS x(e, i)), '[]'::jsonb);
    WHEN 'object' THEN
      RETURN coalesce((SELECT jsonb_object_agg(k, redact_jsonb(v, p_needles)) FROM jsonb_each(p_doc) AS x(k, v)), '{}'::jsonb);
    ELSE RETURN p_doc;
  END CASE;
END $$;

/*
 * The erasure, for the caller's tenant (app.tenant_id), in the caller's transaction. The API passes the customer's
 * identifiers it alone can read (the decrypted email and phone, with the name and external id); the rest is found here.
 * Refused (SQLSTATE DF409) while any of the customer's tickets is not closed: an open ticket's workflow holds its
 * subject and would write it again with its next change. Refused (SQLSTATE DF423) while any of the customer's tickets,
 * hot or archived, is under a legal hold: GDPR art. 17(3)(e) lets the hold win; the tickets' rows (and archive rows) are
 * locked first, as setting a hold locks them, so the two cannot cross.
 * Archived tickets (their hot rows gone, the document in object storage): the caller reads their documents first, in
 * this transaction under the archive rows' locks, passes the customer's words it found there with the identifiers
 * (`p_identifiers`) and the archive keys of the customer's files (`p_archive_keys`, deleted after the commit like the hot
 * ones), and rewrites the redacted documents with the needles this function returns (`needles`: never recorded).
 * The audit entries and webhook events of archived tickets are redacted here like those of hot ones.
 * What it does, for the customer's tickets:
 *   - what the customer wrote goes: ticket subjects and descriptions, their messages' bodies and email ids, the files
 *     of their messages (rows deleted here, objects listed for deletion);
 *   - what others wrote stays, with the customer's identifiers and words replaced by [erased] wherever they appear:
 *     agents' messages, timeline events, webhook event payloads; receivers' answers to those webhooks are dropped;
 *   - the audit entries of the customer and of those tickets are redacted the same way (version 2 entries: the chain
 *     keeps verifying); version 1 entries cannot be, and are counted;
 *   - the customer row is emptied and marked, and one audit entry records the erasure and the entries it redacted.
 */
CREATE FUNCTION erase_customer(p_customer uuid, p_identifiers text[], p_actor_type text, p_actor_id text, p_request_id text,
                               p_archive_keys text[] DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public AS $$
DECLARE
  v_tenant uuid := current_tenant_id();
  v_customer customers%ROWTYPE;
  v_tickets uuid[];
  v_archived uuid[];
  v_all uuid[];
  v_needles text[];
  v_keys text[];
  v_messages integer;
  v_redacted bigint[];
  v_legacy integer;
  v_summary jsonb;
BEGIN
  IF v_tenant IS NULL THEN RAISE EXCEPTION 'erase_customer needs app.tenant_id' USING ERRCODE = 'insufficient_privilege'; END IF;
  SELECT * INTO v_customer FROM customers WHERE tenant_id = v_tenant AND id = p_customer FOR UPDATE;
  IF NOT FOUND THEN RAISE EXCEPTION 'customer not found' USING ERRCODE = 'no_data_found'; END IF;
  IF v_customer.erased_at IS NOT NULL THEN
    RETURN jsonb_build_object('customer_id', p_customer, 'erased_at', v_customer.erased_at, 'already_erased', true, 'storage_keys', '[]'::jsonb);
  END IF;
  IF EXISTS (SELECT 1 FROM tickets WHERE tenant_id = v_tenant AND customer_id = p_customer AND status <> 'closed') THEN
    RAISE EXCEPTION 'the customer has tickets that are not closed' USING ERRCODE = 'DF409';
  END IF;

  -- Hot tickets, and archived ones (a restored ticket is hot again; its kept archive row is locked all the same).
  v_tickets := ARRAY(SELECT id FROM tickets WHERE tenant_id = v_tenant AND customer_id = p_customer ORDER BY id FOR UPDATE);
  v_archived := ARRAY(SELECT ticket_id FROM ticket_archives WHERE tenant_id = v_tenant AND customer_id = p_customer ORDER BY ticket_id FOR UPDATE);
  v_all := ARRAY(SELECT DISTINCT unnest(v_tickets || v_archived));
  IF EXISTS (SELECT 1 FROM ticket_legal_holds WHERE tenant_id = v_tenant AND held AND ticket_id = ANY (v_all)) THEN
    RAISE EXCEPTION 'a legal hold keeps tickets of the customer' USING ERRCODE = 'DF423';
  END IF;
  -- Everything that would identify the customer or repeat their words elsewhere.
  v_needles := ARRAY(
    SELECT DISTINCT n FROM (
      SELECT unnest(p_identifiers || ARRAY[v_customer.name, v_customer.external_id]) AS n
      UNION ALL SELECT subject FROM tickets WHERE tenant_id = v_tenant AND id = ANY (v_tickets)
      UNION ALL SELECT description FROM tickets WHERE tenant_id = v_tenant AND id = ANY (v_tickets)
      UNION ALL SELECT body FROM messages WHERE tenant_id = v_tenant AND ticket_id = ANY (v_tickets) AND author_type = 'customer'
      UNION ALL SELECT external_id FROM messages WHERE tenant_id = v_tenant AND ticket_id = ANY (v_tickets) AND author_type = 'customer'
      UNION ALL SELECT subject FROM ticket_archives WHERE tenant_id = v_tenant AND ticket_id = ANY (v_archived)
    ) s WHERE n IS NOT NULL AND length(n) >= 3);

  -- The customer's files: rows now, objects after the commit (through pending_object_deletions).
  v_keys := ARRAY(
    SELECT a.storage_key FROM attachments a JOIN messages m ON m.id = a.message_id
    WHERE a.tenant_id = v_tenant AND a.ticket_id = ANY (v_tickets) AND m.author_type = 'customer');
  DELETE FROM attachments WHERE tenant_id = v_tenant AND storage_key = ANY (v_keys);
  -- Their archived copies, as the caller found them in the documents (only under this tenant's archived tickets).
  v_keys := v_keys || ARRAY(
    SELECT DISTINCT k FROM unnest(coalesce(p_archive_keys, '{}')) k
    WHERE EXISTS (SELECT 1 FROM unnest(v_archived) t WHERE k LIKE 'archive/' || v_tenant || '/%/' || t || '/attachments/%'));
  INSERT INTO pending_object_deletions (storage_key, reason)
  SELECT k, 'customer erasure' FROM unnest(v_keys) k ON CONFLICT DO NOTHING;

  UPDATE messages SET body = '[erased]', external_id = NULL
  WHERE tenant_id = v_tenant AND ticket_id = ANY (v_tickets) AND author_type = 'customer';
  GET DIAGNOSTICS v_messages = ROW_COUNT;
  UPDATE messages SET body = redact_text(body, v_needles)
  WHERE tenant_id = v_tenant AND ticket_id = ANY (v_tickets) AND author_type <> 'customer' AND body IS DISTINCT FROM redact_text(body, v_needles);
  UPDATE tickets SET subject = '[erased]', description = '[erased]' WHERE tenant_id = v_tenant AND id = ANY (v_tickets);
  UPDATE ticket_events SET changes = redact_jsonb(changes, v_needles), data = redact_jsonb(data, v_needles)
  WHERE tenant_id = v_tenant AND ticket_id = ANY (v_tickets);
  UPDATE ticket_archives SET subject = '[erased]' WHERE tenant_id = v_tenant AND ticket_id = ANY (v_archived);
  UPDATE webhook_events SET body = redact_jsonb(body::jsonb, v_needles)::text
  WHERE tenant_id = v_tenant AND ticket_id = ANY (v_all);
  -- A receiver's answer may echo the payload, cut at 1 KiB (a needle cut in two would not be found): dropped.
  UPDATE webhook_attempts SET response_body = NULL
  WHERE tenant_id = v_tenant AND response_body IS NOT NULL
    AND delivery_id IN (SELECT id FROM webhook_deliveries WHERE tenant_id = v_tenant AND ticket_id = ANY (v_all));

  PERFORM set_config('deskflow.audit_redaction', 'on', true);
  WITH redacted AS (
    UPDATE audit_log SET before = redact_jsonb(before, v_needles), after = redact_jsonb(after, v_needles),
                         payload_sha256 = audit_payload_sha256(before, after), redacted_at = now()
    WHERE tenant_id = v_tenant AND hash_version = 2 AND redacted_at IS NULL
      AND ((entity_type = 'customer' AND entity_id = p_customer::text) OR (entity_type = 'ticket' AND entity_id = ANY (v_all::text[])))
      AND (redact_jsonb(before, v_needles) IS DISTINCT FROM before OR redact_jsonb(after, v_needles) IS DISTINCT FROM after)
    RETURNING seq
  )
  SELECT coalesce(array_agg(seq ORDER BY seq), '{}') INTO v_redacted FROM redacted;
  PERFORM set_config('deskflow.audit_redaction', 'off', true);
  SELECT count(*) INTO v_legacy FROM audit_log
  WHERE tenant_id = v_tenant AND hash_version = 1
    AND ((entity_type = 'customer' AND entity_id = p_customer::text) OR (entity_type = 'ticket' AND entity_id = ANY (v_all::text[])))
    AND (redact_jsonb(before, v_needles) IS DISTINCT FROM before OR redact_jsonb(after, v_needles) IS DISTINCT FROM after);

  UPDATE customers SET name = '[erased]', email_enc = NULL, email_bidx = NULL, phone_enc = NULL, external_id = NULL,
                       erased_at = now(), version = version + 1, updated_at = now()
  WHERE tenant_id = v_tenant AND id = p_customer;

  v_summary := jsonb_build_object(
    'tickets', cardinality(v_tickets), 'archived_tickets', cardinality(v_archived), 'messages_erased', v_messages, 'attachments_deleted', cardinality(v_keys),
    'redacted_seqs', to_jsonb(v_redacted), 'legacy_audit_entries_kept', v_legacy);
  INSERT INTO audit_log (tenant_id, actor_type, actor_id, action, entity_type, entity_id, before, after, request_id)
  VALUES (v_tenant, p_actor_type, p_actor_id, 'customer.erased', 'customer', p_customer::text, NULL, v_summary, p_request_id);
  RETURN v_summary || jsonb_build_object('customer_id', p_customer, 'erased_at', now(), 'already_erased', false, 'storage_keys', to_jsonb(v_keys),
                                 'archived_ticket_ids', to_jsonb(v_archived), 'needles', to_jsonb(v_needles));
END $$;
REVOKE ALL ON FUNCTION erase_customer(uuid, text[], text, text, text, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION erase_customer(uuid, text[], text, text, text, text[]) TO deskflow_app;

-- After the objects are deleted: their keys are forgotten (any tenant's: the retention sweep runs without one).
CREATE FUNCTION forget_object_deletions(p_keys text[]) RETURNS integer
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public AS $$
  WITH gone AS (DELETE FROM pending_object_deletions WHERE storage_key = ANY (p_keys) RETURNING 1) SELECT count(*)::integer FROM gone
$$;
-- What a crash left: keys older than p_before (the API deletes its own at once), oldest first.
CREATE FUNCTION due_object_deletions(p_before timestamptz, p_limit integer) RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT storage_key FROM pending_object_deletions WHERE created_at < p_before ORDER BY created_at LIMIT p_limit
$$;
REVOKE ALL ON FUNCTION forget_object_deletions(text[]), due_object_deletions(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forget_object_deletions(text[]), due_object_deletions(timestamptz, integer) TO deskflow_app;
GRANT EXECUTE ON FUNCTION redact_text(text, text[]), redact_jsonb(jsonb, text[]) TO deskflow_app;

-- Down Migration
DROP FUNCTION due_object_deletions(timestamptz, integer);
DROP FUNCTION forget_object_deletions(text[]);
DROP FUNCTION erase_customer(uuid, text[], text, text, text, text[]);
DROP FUNCTION redact_jsonb(jsonb, text[]);
DROP FUNCTION redact_text(text, text[]);
DROP TABLE pending_object_deletions;
ALTER TABLE customers DROP COLUMN erased_at;
