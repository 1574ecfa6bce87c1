-- Up Migration

-- Archival (issue #14 items 3 and 4): closed tickets older than their tenant's archive age are exported to object
-- storage (one document, plus their attachments) and their hot rows removed; what stays is the metadata row below.
-- An admin can restore a ticket; a legal hold keeps a ticket from being archived or deleted.

-- A tenant's archive age in days; NULL: ARCHIVE_AFTER_DAYS (90 by default).
ALTER TABLE tenants ADD COLUMN archive_after_days integer CHECK (archive_after_days BETWEEN 1 AND 36500);

-- One row per ticket that has been archived (and kept, as `restored`, after a restore): where its export is, what it
-- holds, and enough of the ticket for GET /api/v1/tickets/:id to answer once the hot row is gone. A row is only ever
-- written after its export was read back and verified (`verified_at`), in the transaction that removes the hot rows.
CREATE TABLE ticket_archives (
  ticket_id          uuid PRIMARY KEY,
  tenant_id          uuid NOT NULL REFERENCES tenants (id),
  state              text NOT NULL CHECK (state IN ('archived', 'restored')),
  subject            text NOT NULL,
  priority           text NOT NULL,
  channel            text NOT NULL,
  customer_id        uuid NOT NULL,
  assignee_id        uuid,
  group_id           uuid,
  tags               text[] NOT NULL DEFAULT '{}',
  ticket_version     integer NOT NULL,
  ticket_created_at  timestamptz NOT NULL,
  ticket_updated_at  timestamptz NOT NULL,
  closed_at          timestamptz NOT NULL,
  -- The document's object key (`archive/<tenant>/<yyyy>/<mm>/<ticket>/ticket.json`), its SHA-256 and size.
  location           text NOT NULL,
  sha256             text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  size_bytes         bigint NOT NULL CHECK (size_bytes > 0),
  storage_class      text NOT NULL,
  message_count      integer NOT NULL,
  attachment_count   integer NOT NULL,
  attachment_bytes   bigint NOT NULL,
  verified_at        timestamptz NOT NULL,
  archived_at        timestamptz NOT NULL DEFAULT now(),
  -- How many times the ticket was archived (a restored ticket may be archived again): names its ticket.archived event.
  generation         integer NOT NULL DEFAULT 1,
  -- The hot attachment objects, deleted once the rows are gone (after the commit: a crash in between is finished by
  -- the next run, which finds sources_purged_at still NULL).
  source_keys        text[] NOT NULL DEFAULT '{}',
  sources_purged_at  timestamptz,
  restored_at        timestamptz,
  restored_by_type   text,
  restored_by_id     text,
  UNIQUE (tenant_id, ticket_id)
);
CREATE INDEX ticket_archives_tenant_idx ON ticket_archives (tenant_id, archived_at DESC);
CREATE INDEX ticket_archives_unpurged_idx ON ticket_archives (archived_at) WHERE state = 'archived' AND sources_purged_at IS NULL;

-- Legal holds: one row per ticket ever held (`held` false once lifted; the audit log has the history). Kept apart from
-- the ticket row so a hold outlives archival and covers the archive too.
CREATE TABLE ticket_legal_holds (
  ticket_id        uuid PRIMARY KEY,
  tenant_id        uuid NOT NULL REFERENCES tenants (id),
  held             boolean NOT NULL,
  reason           text CHECK (length(reason) <= 500),
  changed_by_type  text NOT NULL,
  changed_by_id    text,
  changed_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ticket_legal_holds_held_idx ON ticket_legal_holds (tenant_id, ticket_id) WHERE held;

ALTER TABLE ticket_archives ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ticket_archives USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
ALTER TABLE ticket_legal_holds ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ticket_legal_holds USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
GRANT SELECT, INSERT, UPDATE ON ticket_archives, ticket_legal_holds TO deskflow_app;

-- The archival run walks closed tickets oldest first.
CREATE INDEX tickets_closed_idx ON tickets (closed_at, id) WHERE status = 'closed';

-- Candidates are found before any tenant is known: a narrow SECURITY DEFINER look-up that names rows only (each is then
-- archived under its tenant). Closed tickets older than the tenant's archive age (counted from a restore, if later),
-- not under a legal hold, after the run's cursor.
CREATE FUNCTION archival_candidates(p_as_of timestamptz, p_default_days integer, p_after_closed_at timestamptz, p_after_id uuid, p_limit integer)
RETURNS TABLE (tenant_id uuid, ticket_id uuid, closed_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT t.tenant_id, t.id, t.closed_at
  FROM tickets t
  JOIN tenants n ON n.id = t.tenant_id
  LEFT JOIN ticket_archives a ON a.ticket_id = t.id AND a.tenant_id = t.tenant_id
  WHERE t.status = 'closed'
    AND (t.closed_at, t.id) > (coalesce(p_after_closed_at, '-infinity'::timestamptz), coalesce(p_after_id, '00000000-0000-0000-0000-000000000000'::uuid))
    AND greatest(t.closed_at, a.restored_at) < p_as_of - make_interval(days => coalesce(n.archive_after_days, p_default_days))
    AND NOT EXISTS (SELECT 1 FROM ticket_legal_holds h WHERE h.ticket_id = t.id AND h.tenant_id = t.tenant_id AND h.held)
  ORDER BY t.closed_at, t.id
  LIMIT p_limit
$$;
REVOKE ALL ON FUNCTION archival_candidates(timestamptz, integer, timestamptz, uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION archival_candidates(timestamptz, integer, timestamptz, uuid, integer) TO deskflow_app;

-- Archives whose hot attachment objects are still to be deleted (a worker died between the commit and the deletes).
CREATE FUNCTION archives_with_sources(p_limit integer)
RETURNS TABLE (tenant_id uuid, ticket_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT tenant_id, ticket_id FROM ticket_archives
  WHERE state = 'archived' AND sources_purged_at IS NULL
  ORDER BY archived_at LIMIT p_limit
$$;
REVOKE ALL ON FUNCTION archives_with_sources(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION archives_with_sources(integer) TO deskflow_app;

-- The app role has no DELETE: archival removes a ticket's hot rows through this one narrow door. It removes only a
-- ticket of the caller's tenant (app.tenant_id) that is closed, not under a legal hold, and whose archive of exactly
-- this version has been recorded as verified (by the same transaction, before this call). Anything else changes
-- nothing and says why; the caller then rolls back its transaction. The recorded subject must also still be the
-- ticket's: a customer erasure (migration 021) redacts a closed ticket's rows without a new version, and an export
-- taken before it must not become the archive (it is discarded; a later run exports the redacted rows).
CREATE FUNCTION archive_remove_hot_ticket(p_ticket uuid)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public AS $$
DECLARE
  v_tenant uuid := current_tenant_id();
  v_version integer;
  v_subject text;
BEGIN
  IF v_tenant IS NULL THEN
    RAISE EXCEPTION 'archive_remove_hot_ticket needs app.tenant_id' USING ERRCODE = 'insufficient_privilege';
  END IF;
  -- The ticket's row lock first: a legal hold being set takes it too, so the two cannot cross.
  SELECT version, subject INTO v_version, v_subject FROM tickets WHERE id = p_ticket AND tenant_id = v_tenant AND status = 'closed' FOR UPDATE;
  IF NOT FOUND THEN RETURN 'not_closed'; END IF;
  IF EXISTS (SELECT 1 FROM ticket_legal_holds WHERE ticket_id = p_ticket AND tenant_id = v_tenant AND held) THEN
    RETURN 'legal_hold';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM ticket_archives WHERE ticket_id = p_ticket AND tenant_id = v_tenant AND state = 'archived'
                 AND ticket_version = v_version AND subject = v_subject AND verified_at IS NOT NULL) THEN
    RETURN 'not_verified';
  END IF;
  DELETE FROM attachments WHERE tenant_id = v_tenant AND ticket_id = p_ticket;
  DELETE FROM messages WHERE tenant_id = v_tenant AND ticket_id = p_ticket;
  DELETE FROM ticket_events WHERE tenant_id = v_tenant AND ticket_id = p_ticket;
  DELETE FROM ticket_sla WHERE tenant_id = v_tenant AND ticket_id = p_ticket;
  DELETE FROM tickets WHERE tenant_id = v_tenant AND id = p_ticket;
  RETURN 'removed';
END $$;
REVOKE ALL ON FUNCTION archive_remove_hot_ticket(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION archive_remove_hot_ticket(uuid) TO deskflow_app;

-- Down Migration
DROP FUNCTION archive_remove_hot_ticket(uuid);
DROP FUNCTION archives_with_sources(integer);
DROP FUNCTION archival_candidates(timestamptz, integer, timestamptz, uuid, integer);
DROP INDEX tickets_closed_idx;
DROP TABLE ticket_legal_holds;
DROP TABLE ticket_archives;
ALTER TABLE tenants DROP COLUMN archive_after_days;
