-- Up Migration

-- Deleting an endpoint is soft: its deliveries and attempts keep referring to it (and stay in the log),
-- while reads hide it and nothing new is delivered to it (a deleted endpoint is also disabled).
ALTER TABLE webhook_endpoints ADD COLUMN deleted_at timestamptz;
CREATE INDEX webhook_endpoints_live_idx ON webhook_endpoints (tenant_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;

-- Down Migration
DROP INDEX webhook_endpoints_live_idx;
ALTER TABLE webhook_endpoints DROP COLUMN deleted_at;
