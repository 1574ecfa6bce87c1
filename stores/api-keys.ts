/** API keys of a tenant: minted by admins (secret shown once), revocable, audited. */
import type pg from 'pg';
import type { ApiKey, CreateApiKeyInput, Scope } from '../domain/auth';
import { DeskflowError } from '../domain/errors';
import { appendAudit } from '../platform/audit';
import { inTenantTransaction, withTenant } from '../platform/tenant-db';
import { apiKeyPrefix, mintApiKey } from '../platform/api-keys';
import type { Identity } from '../domain/identity';

/** What authentication needs of a key, found by its public id before any tenant is known. */
export interface KeyCredential {
  id: string;
  tenant_id: string;
  secret_hash: string;
  scopes: Scope[];
  rate_limit_per_min: number | null;
  revoked_at: string | null;
}

const COLUMNS = "id, tenant_id, name, 'dfk_' || key_id AS prefix, scopes, rate_limit_per_min, created_by, created_at, last_used_at, revoked_at";

export function apiKeyStore(pool: pg.Pool) {
  return {
    /** Returns the key record and, this once, the full secret token. */
    async create(who: Identity, id: string, input: CreateApiKeyInput, requestId?: string): Promise<{ key: ApiKey; token: string }> {
      const missing = input.scopes.filter((s) => !who.scopes.has(s));
      if (missing.length) throw new DeskflowError('forbidden', `you cannot grant scopes you do not hold: ${missing.join(', ')}`);
      const minted = mintApiKey();
      return inTenantTransaction(pool, who.tenantId, async (db) => {
        const { rows } = await db.query<ApiKey>(
          `INSERT INTO api_keys (id, tenant_id, name, key_id, secret_hash, scopes, rate_limit_per_min, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${COLUMNS}`,
          [id, who.tenantId, input.name, minted.keyId, minted.secretHash, input.scopes, input.rate_limit_per_min, who.actor.id],
        );
        await appendAudit(db, {
          tenant_id: who.tenantId,
          actor: who.actor,
          action: 'api_key.created',
          entity_type: 'api_key',
          entity_id: id,
          after: { name: input.name, prefix: apiKeyPrefix(minted.keyId), scopes: input.scopes, rate_limit_per_min: input.rate_limit_per_min },
          request_id: requestId,
        });
        return { key: rows[0]!, token: minted.token };
      });
    },

    async list(tenantId: string, limit: number, after?: [string, string]): Promise<ApiKey[]> {
      return withTenant(pool, tenantId, async (db) => {
        const { rows } = await db.query<ApiKey>(
          // The cursor's time has millisecond precision, the column microseconds: resume from the exact time of
          // the cursor's key, or keys sharing its millisecond would be skipped (and hidden from their admins).
          `SELECT ${COLUMNS} FROM api_keys WHERE tenant_id = $1
             AND ($2::timestamptz IS NULL OR (created_at, id) <
                  (coalesce((SELECT k.created_at FROM api_keys k WHERE k.tenant_id = $1 AND k.id = $3::uuid), $2::timestamptz), $3::uuid))
           ORDER BY created_at DESC, id DESC LIMIT $4`,
          [tenantId, after?.[0] ?? null, after?.[1] ?? null, limit + 1],
        );
        return rows;
      });
    },

    async get(tenantId: string, id: string): Promise<ApiKey | null> {
      return withTenant(
        pool,
        tenantId,
        async (db) => (await db.query<ApiKey>(`SELECT ${COLUMNS} FROM api_keys WHERE tenant_id = $1 AND id = $2`, [tenantId, id])).rows[0] ?? null,
      );
    },

    /** Across tenants (a SECURITY DEFINER function): the caller checks the secret against `secret_hash`. */
    async findForAuth(keyId: string): Promise<KeyCredential | null> {
      const { rows } = await pool.query<KeyCredential>('SELECT * FROM auth_find_api_key($1)', [keyId]);
      return rows[0] ?? null;
    },

    async touch(id: string): Promise<void> {
      await pool.query('SELECT auth_touch_api_key($1)', [id]);
    },

    async revoke(who: Identity, id: string, requestId?: string): Promise<void> {
      await inTenantTransaction(pool, who.tenantId, async (db) => {
        const { rowCount } = await db.query('UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE tenant_id = $1 AND id = $2', [
          who.tenantId,
          id,
        ]);
        if (!rowCount) throw new DeskflowError('not_found', 'API key not found');
        await appendAudit(db, {
          tenant_id: who.tenantId,
          actor: who.actor,
          action: 'api_key.revoked',
          entity_type: 'api_key',
          entity_id: id,
          request_id: requestId,
        });
      });
    },
  };
}
export type ApiKeyStore = ReturnType<typeof apiKeyStore>;
