-- Up Migration

-- Blind indexes are keyed per tenant (HKDF of BLIND_INDEX_KEY and the tenant id) so equal emails in two
-- tenants no longer have equal indexes. SQL cannot compute the HMACs: rows written before this migration
-- keep version 1 until `npm run migrate` re-indexes them, right after the SQL migrations
-- (reindexBlindIndexes in platform/migrate.ts). The application writes version 2.
ALTER TABLE customers ADD COLUMN email_bidx_version smallint NOT NULL DEFAULT 1 CHECK (email_bidx_version IN (1, 2));
CREATE INDEX customers_bidx_version_idx ON customers (id) WHERE email_bidx_version < 2;

-- Down Migration
-- Lossy: indexes already re-keyed per tenant stay as they are; the older code will not find those emails.
DROP INDEX customers_bidx_version_idx;
ALTER TABLE customers DROP COLUMN email_bidx_version;
