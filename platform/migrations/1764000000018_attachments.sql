-- Up Migration

-- Attachments (issue #14): files of ticket messages, kept in object storage under `storage_key`
-- (`attachments/<tenant>/<ticket>/<id>`); this row is their metadata. An upload stores the object, then inserts
-- the row as `stored`; the projection links it to its message (`linked`) in the statement that writes the message.
-- A row still `stored` belongs to an upload in flight, or one whose message was refused (the API discards those at
-- once through discard_attachments below).
CREATE TABLE attachments (
  id            uuid PRIMARY KEY,
  tenant_id     uuid NOT NULL REFERENCES tenants (id),
  ticket_id     uuid NOT NULL,
  message_id    uuid,
  -- The file's place among its message's files (the order they were uploaded in).
  position      smallint NOT NULL DEFAULT 0,
  -- Sanitised by the API (no control characters, no path, at most 255 characters); shown, never used as a path.
  filename      text NOT NULL CHECK (length(filename) BETWEEN 1 AND 255),
  -- The type sniffed from the bytes (or text/plain, text/csv for checked UTF-8 text), never the client's claim.
  content_type  text NOT NULL CHECK (length(content_type) BETWEEN 3 AND 255),
  size_bytes    bigint NOT NULL CHECK (size_bytes >= 0),
  sha256        text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  storage_key   text NOT NULL UNIQUE,
  status        text NOT NULL DEFAULT 'stored' CHECK (status IN ('stored', 'linked')),
  created_by_type text NOT NULL,
  created_by_id   text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  CHECK ((status = 'linked') = (message_id IS NOT NULL)),
  FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets (tenant_id, id),
  FOREIGN KEY (message_id) REFERENCES messages (id)
);
-- A message's attachments (API answers list them with every message).
CREATE INDEX attachments_message_idx ON attachments (tenant_id, message_id) WHERE message_id IS NOT NULL;
-- A ticket's attachments (archival exports them with the ticket).
CREATE INDEX attachments_ticket_idx ON attachments (tenant_id, ticket_id);
-- Uploads never linked (a crash between storing and the message): what a sweep looks for.
CREATE INDEX attachments_unlinked_idx ON attachments (created_at) WHERE status = 'stored';

ALTER TABLE attachments ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON attachments USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
GRANT SELECT, INSERT, UPDATE ON attachments TO deskflow_app;

-- The app role has no DELETE: an upload whose message was refused removes its rows through this one narrow door,
-- which only ever removes rows of the caller's tenant (app.tenant_id) that no message has linked.
CREATE FUNCTION discard_attachments(p_ids uuid[])
RETURNS SETOF uuid
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public AS $$
  DELETE FROM attachments
  WHERE id = ANY (p_ids) AND tenant_id = current_tenant_id() AND status = 'stored'
  RETURNING id
$$;
REVOKE ALL ON FUNCTION discard_attachments(uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION discard_attachments(uuid[]) TO deskflow_app;

-- Down Migration
DROP FUNCTION discard_attachments(uuid[]);
DROP TABLE attachments;
