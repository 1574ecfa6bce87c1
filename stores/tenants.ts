/** The caller's own tenant: settings (name, rate limit) and the inbound-email secret. */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { DeskflowError } from '../domain/errors';
import { appendAudit } from '../platform/audit';
import type { FieldCrypto } from '../platform/field-crypto';
import { inTenantTransaction, withTenant } from '../platform/tenant-db';
import { RELEASE_PAUSED } from './webhook-deliveries';
import type { Identity } from '../domain/identity';
import type { PatchTenantInput, TenantSettings } from '../domain/auth';

const COLUMNS =
  'id, name, rate_limit_per_min, inbound_secret_enc IS NOT NULL AS inbound_secret_set, webhook_retry_schedule, webhooks_paused_at, archive_after_days, ' +
  'archive_delete_after_years, created_at';

export function tenantStore(pool: pg.Pool, crypto: FieldCrypto, cacheMs = 30_000) {
  const limits = new Map<string, { value: number | null; at: number }>();

  return {
    /** Operator only (the owner's pool: tenants are not created through the API). False if the id exists. */
    async create(id: string, name: string): Promise<boolean> {
      return (await pool.query('INSERT INTO tenants (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING', [id, name])).rowCount === 1;
    },

    /** Operator only (the owner's pool): undoes a `create` whose next step failed. */
    async remove(id: string): Promise<void> {
      await pool.query('DELETE FROM tenants WHERE id = $1', [id]);
    },

    async exists(id: string): Promise<boolean> {
      return withTenant(pool, id, async (db) => Boolean((await db.query('SELECT 1 FROM tenants WHERE id = $1', [id])).rowCount));
    },

    async get(tenantId: string): Promise<TenantSettings> {
      return withTenant(pool, tenantId, async (db) => {
        const row = (await db.query<TenantSettings>(`SELECT ${COLUMNS} FROM tenants WHERE id = $1`, [tenantId])).rows[0];
        if (!row) throw new DeskflowError('not_found', 'tenant not found');
        return row;
      });
    },

    /** The tenant's per-credential rate limit, cached briefly (it sits on every request's path). */
    async rateLimit(tenantId: string): Promise<number | null> {
      const cached = limits.get(tenantId);
      if (cached && Date.now() - cached.at < cacheMs) return cached.value;
      const value = (await this.get(tenantId)).rate_limit_per_min;
      limits.set(tenantId, { value, at: Date.now() });
      return value;
    },

    async patch(who: Identity, patch: PatchTenantInput, requestId?: string): Promise<TenantSettings> {
      return inTenantTransaction(pool, who.tenantId, async (db) => {
        const before = (await db.query<TenantSettings>(`SELECT ${COLUMNS} FROM tenants WHERE id = $1 FOR UPDATE`, [who.tenantId])).rows[0]!;
        const { rows } = await db.query<TenantSettings>(
          `UPDATE tenants SET name = coalesce($2, name), rate_limit_per_min = CASE WHEN $3 THEN $4::int ELSE rate_limit_per_min END,
                  webhook_retry_schedule = coalesce($5, webhook_retry_schedule),
                  webhooks_paused_at = CASE WHEN $6::boolean IS NULL THEN webhooks_paused_at
                                            WHEN $6 THEN coalesce(webhooks_paused_at, now()) END,
                  archive_after_days = CASE WHEN $7 THEN $8::int ELSE archive_after_days END,
                  archive_delete_after_years = CASE WHEN $9 THEN $10::int ELSE archive_delete_after_years END
           WHERE id = $1 RETURNING ${COLUMNS}`,
          [
            who.tenantId,
            patch.name ?? null,
            patch.rate_limit_per_min !== undefined,
            patch.rate_limit_per_min ?? null,
            patch.webhook_retry_schedule ?? null,
            patch.webhooks_paused ?? null,
            patch.archive_after_days !== undefined,
            patch.archive_after_days ?? null,
            patch.archive_delete_after_years !== undefined,
            patch.archive_delete_after_years ?? null,
          ],
        );
        // Resumed: what the pause kept waiting is due now, not at its next look (up to a minute later).
        if (patch.webhooks_paused === false && before.webhooks_paused_at !== null) await db.query(RELEASE_PAUSED, [who.tenantId]);
        await appendAudit(db, {
          tenant_id: who.tenantId,
          actor: who.actor,
          action: 'tenant.updated',
          entity_type: 'tenant',
          entity_id: who.tenantId,
          before: Object.fromEntries(
            Object.keys(patch).map((k) => [k, k === 'webhooks_paused' ? before.webhooks_paused_at !== null : before[k as keyof TenantSettings]]),
          ),
          after: patch,
          request_id: requestId,
        });
        limits.delete(who.tenantId);
        return rows[0]!;
      });
    },

    /** A new inbound-email signing secret, returned once; the old one stops working at once. */
    async rotateInboundSecret(who: Identity, requestId?: string): Promise<string> {
      const secret = `whsec_${randomBytes(32).toString('base64url')}`;
      await inTenantTransaction(pool, who.tenantId, async (db) => {
        await db.query('UPDATE tenants SET inbound_secret_enc = $2 WHERE id = $1', [who.tenantId, crypto.encrypt(secret)]);
        await appendAudit(db, {
          tenant_id: who.tenantId,
          actor: who.actor,
          action: 'tenant.inbound_secret_rotated',
          entity_type: 'tenant',
          entity_id: who.tenantId,
          request_id: requestId,
        });
      });
      return secret;
    },

    /** For the public inbound endpoint, before any credential: the tenant's decrypted secret (or null). */
    async inboundSecret(tenantId: string): Promise<string | null> {
      const { rows } = await pool.query<{ inbound_secret_enc: string | null }>('SELECT inbound_secret_enc FROM inbound_tenant($1)', [tenantId]);
      return rows[0]?.inbound_secret_enc ? crypto.decrypt(rows[0].inbound_secret_enc) : null;
    },
  };
}
export type TenantStore = ReturnType<typeof tenantStore>;
