-- Up Migration

-- A tenant's webhook retry preset (domain/webhook-retry.ts): `standard` (the configured exponential schedule)
-- or `extended` (about 3 days, for receivers with maintenance windows).
ALTER TABLE tenants ADD COLUMN webhook_retry_schedule text NOT NULL DEFAULT 'standard'
  CHECK (webhook_retry_schedule IN ('standard', 'extended'));

-- Down Migration
ALTER TABLE tenants DROP COLUMN webhook_retry_schedule;
