-- Up Migration

-- Incident switches (issue #13): webhook delivery paused for one tenant (PATCH /api/v1/tenant) or for every tenant
-- (npm run admin -- webhooks-pause). Nothing is dropped: a paused delivery stays pending, exactly as one of a disabled
-- endpoint, and lifting the pause makes them due at once.
ALTER TABLE tenants ADD COLUMN webhooks_paused_at timestamptz;

CREATE TABLE webhook_global_pause (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  paused_at timestamptz,
  reason text
);
INSERT INTO webhook_global_pause DEFAULT VALUES;
-- The application reads the switch; only the operator (the owner, through the admin CLI) sets it.
GRANT SELECT ON webhook_global_pause TO deskflow_app;

-- Down Migration

DROP TABLE webhook_global_pause;
ALTER TABLE tenants DROP COLUMN webhooks_paused_at;
